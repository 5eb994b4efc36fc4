/**
 * The journal on a real LMDB file in a temp folder: records carry a format version and a checksum, a damaged record
 * is counted and removed (never restored, never silent), the lock is a unix socket the kernel releases, and a
 * failed write is the journal's error, never an unhandled rejection.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as lmdbOpen } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { isEngineError } from '../../../src/engine/errors.js';
import { type Journal, JournalLockedError, openJournal } from '../../../src/engine/journal.js';
import { ROOT } from '../../helpers/bin.js';

/** Child processes run the built journal (`npm run build` first, as for the e2e tests). */
const BUILT = join(ROOT, 'dist/engine/journal.js');

const dirs: string[] = [];
const open: Journal[] = [];
afterEach(async () => {
  for (const j of open.splice(0)) await j.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pse-journal-'));
  dirs.push(dir);
  return dir;
}

function journal(dir: string): Journal {
  const j = openJournal(dir);
  open.push(j);
  return j;
}

const FUTURE = Date.now() + 3_600_000;
const record = (body: string, deliveryId: string | null = 'd-1') => ({
  body: new TextEncoder().encode(body),
  deliveryId,
  receivedAt: Date.now(),
  expiresAt: FUTURE,
});

async function closeLast(): Promise<void> {
  await open.pop()!.close();
}

describe('openJournal', () => {
  it('keeps pending bodies, delivery ids and answered keys across a reopen', async () => {
    const dir = tempDir();
    const j = journal(dir);
    await j.add('a:assertion', record('{"id":"a"}'));
    await j.add('b:assertion', record('{"id":"b"}', null));
    await j.add('c:assertion', record('{"id":"c"}'));
    await j.settle('c:assertion', FUTURE);
    await closeLast();
    const again = journal(dir);
    const found = await again.recover();
    expect(found.pending.map(([k, r]) => [k, new TextDecoder().decode(r.body), r.deliveryId])).toEqual([
      ['a:assertion', '{"id":"a"}', 'd-1'],
      ['b:assertion', '{"id":"b"}', null],
    ]);
    expect(found.answered).toEqual([['c:assertion', FUTURE]]);
    expect(found.damaged).toEqual([]);
    // Closed cleanly and untouched since: not checked again (the check is a child process, 0.1-0.5 s).
    expect(again.checkMs).toBe(0);
  });

  it('checks a file changed since its clean close, and one left by a process that did not close it', async () => {
    const dir = tempDir();
    const j = journal(dir);
    await j.add('a:', record('{"id":"a"}'));
    await closeLast();
    const file = join(dir, 'journal.lmdb');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const touched = journal(dir);
    expect(touched.checkMs).toBeGreaterThan(0);
    expect(existsSync(`${file}.clean`)).toBe(false); // removed while open: a crash now leaves no mark
    // A process that dies with the journal open leaves no mark, so the next open checks.
    const crashed = tempDir();
    const script = `const j = (await import(${JSON.stringify(BUILT)})).openJournal(${JSON.stringify(crashed)});
      await j.add('c:', { body: new Uint8Array(10), deliveryId: null, receivedAt: 1, expiresAt: Date.now() + 60000 });
      process.kill(process.pid, 'SIGKILL');`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.signal, child.stderr).toBe('SIGKILL');
    const after = journal(crashed);
    expect(after.checkMs).toBeGreaterThan(0);
    expect((await after.recover()).pending.map(([k]) => k)).toEqual(['c:']);
    console.log(`journal check at open: ${touched.checkMs.toFixed(0)} ms`);
  });

  it('a record whose bytes changed fails its checksum: counted, named, removed, and warned about', async () => {
    const dir = tempDir();
    const j = journal(dir);
    for (const id of ['good-1', 'flipped', 'good-2']) await j.add(`${id}:`, record(`{"id":"${id}","pad":"${id.repeat(50)}"}`));
    await closeLast();
    // Change one byte of every copy of the record's body in the file (LMDB keeps older copies of pages too).
    const file = join(dir, 'journal.lmdb');
    const bytes = readFileSync(file);
    let changed = 0;
    for (let at = bytes.indexOf('flippedflipped'); at !== -1; at = bytes.indexOf('flippedflipped', at + 1)) {
      bytes[at] = 'F'.charCodeAt(0);
      changed++;
    }
    expect(changed).toBeGreaterThan(0);
    writeFileSync(file, bytes);
    const again = journal(dir);
    const found = await again.recover();
    expect(found.pending.map(([k]) => k).sort()).toEqual(['good-1:', 'good-2:']);
    expect(found.damaged).toEqual([{ key: 'flipped:', reason: 'checksum mismatch' }]);
    // Removed: the next recovery does not count it again.
    expect((await again.recover()).damaged).toEqual([]);
  });

  it('reads the records of the format before version 1 (msgpack), so an upgrade keeps what was accepted', async () => {
    const dir = tempDir();
    const old = lmdbOpen<unknown, string>({ path: join(dir, 'journal.lmdb'), compression: false });
    await old.put('p:old:assertion', {
      body: new TextEncoder().encode('{"id":"old"}'),
      deliveryId: 'd-0',
      receivedAt: 5,
      expiresAt: FUTURE,
    });
    await old.put('a:done:', FUTURE);
    await old.close();
    const found = await journal(dir).recover();
    expect(found.pending.map(([k, r]) => [k, new TextDecoder().decode(r.body), r.deliveryId, r.receivedAt])).toEqual([
      ['old:assertion', '{"id":"old"}', 'd-0', 5],
    ]);
    expect(found.answered).toEqual([['done:', FUTURE]]);
    expect(found.damaged).toEqual([]);
  });

  it('refuses a second holder with JOURNAL_LOCKED naming the folder and the holder pid', () => {
    const dir = tempDir();
    journal(dir);
    let error: unknown;
    try {
      openJournal(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(JournalLockedError);
    expect(isEngineError(error, 'JOURNAL_LOCKED')).toBe(true);
    // The holder is this very process, blocked in the open: it cannot answer with its pid (another process does).
    expect((error as JournalLockedError).data).toEqual({ dir });
    expect((error as Error).message).toBe(`another engine is using the journal in ${dir}`);
  });

  it('takes over the lock of a process killed with SIGKILL, whatever pid an old lock file names', async () => {
    const dir = tempDir();
    // Another process holds the journal, then dies by SIGKILL: its socket file stays, nobody listens on it.
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `(await import(${JSON.stringify(BUILT)})).openJournal(${JSON.stringify(dir)}); console.log('held'); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.on('data', (d: Buffer) => String(d).includes('held') && resolve());
      holder.on('exit', (code) => reject(new Error(`holder exited ${code}`)));
    });
    expect(() => openJournal(dir)).toThrow(/another engine \(pid \d+\) is using the journal/);
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    expect(existsSync(join(dir, 'journal.sock'))).toBe(true);
    // The pid file of the old lock, naming a live process that is not an engine: no longer consulted.
    writeFileSync(join(dir, 'journal.lock'), String(process.pid));
    const j = journal(dir);
    expect(j.path).toBe(join(dir, 'journal.lmdb'));
  });

  it('a failed write rejects with the journal named, never as an unhandled rejection', () => {
    const dir = tempDir();
    // A child whose files may not grow past 64 KiB (ulimit -f): LMDB's writes fail with EFBIG.
    const script = `
      const { openJournal } = await import(${JSON.stringify(BUILT)});
      process.on('unhandledRejection', (e) => { console.log('UNHANDLED ' + e.message); process.exit(3); });
      const j = openJournal(${JSON.stringify(dir)});
      (async () => {
        const body = new Uint8Array(200 * 1024).fill(120);
        const small = { body: new Uint8Array(10), deliveryId: null, receivedAt: 1, expiresAt: Date.now() + 60000 };
        await j.add('small:', small);
        for (let i = 0; i < 3; i++) {
          // A settle rides with the next accept's transaction (group commit), so it fails with a write too big for the file.
          await Promise.all([
            j.settle('small:', Date.now() + 60000).catch((e) => console.log('SETTLE ' + e.code + ' ' + e.message)),
            j.add('k' + i + ':', { ...small, body }).catch((e) => console.log('ADD ' + e.code + ' ' + e.message)),
          ]);
        }
        setTimeout(() => process.exit(0), 300);
      })();`;
    const r = spawnSync('sh', ['-c', `ulimit -f 128; exec "${process.execPath}" --input-type=module -e "$0"`, script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stdout).not.toContain('UNHANDLED');
    expect(r.stdout).toMatch(new RegExp(`ADD JOURNAL_UNAVAILABLE cannot write the journal ${join(dir, 'journal.lmdb')}: `));
    expect(r.stdout).toMatch(new RegExp(`SETTLE JOURNAL_UNAVAILABLE cannot write the journal ${join(dir, 'journal.lmdb')}: `));
    expect(r.status, r.stderr).toBe(0);
  });
});

describe('journal damage (checked in a child before the file is mapped)', () => {
  async function filled(): Promise<string> {
    const dir = tempDir();
    const j = journal(dir);
    for (let i = 0; i < 40; i++) await j.add(`id-${i}:`, record(`{"id":"id-${i}","pad":"${'x'.repeat(900)}"}`));
    await closeLast();
    return dir;
  }

  function openError(dir: string): { code?: string; message: string; data?: unknown } {
    try {
      open.push(openJournal(dir));
    } catch (error) {
      return error as { code?: string; message: string };
    }
    throw new Error('the journal opened');
  }

  it.each([
    ['truncated to 0 bytes', (f: string) => execFileSync('truncate', ['-s', '0', f]), /the file is empty \(0 bytes\)/],
    [
      'truncated to 8 KiB',
      (f: string) => execFileSync('truncate', ['-s', '8K', f]),
      /crashed the checking process \(SIGBUS\)|LMDB cannot read it|header counts/,
    ],
    [
      'truncated to 20 KiB',
      (f: string) => execFileSync('truncate', ['-s', '20K', f]),
      /crashed the checking process \(SIGBUS\)|LMDB cannot read it|header counts/,
    ],
    [
      'random bytes over its first pages',
      (f: string) => {
        const bytes = readFileSync(f);
        for (let i = 0; i < 12 * 1024; i++) bytes[i] = (i * 2654435761) >>> 24;
        writeFileSync(f, bytes);
      },
      /crashed the checking process|LMDB cannot read it|header counts/,
    ],
  ])('%s: JOURNAL_DAMAGED naming the file, the reason and what to do', async (_name, damage, reason) => {
    const dir = await filled();
    const file = join(dir, 'journal.lmdb');
    damage(file);
    const error = openError(dir);
    expect(error.code).toBe('JOURNAL_DAMAGED');
    expect(error.message).toMatch(reason);
    expect(error.message).toContain(`the journal ${file} is damaged: `);
    expect(error.message).toContain('move the file aside');
    // The lock was released: once the file is moved aside, the folder opens (empty).
    rmSync(file);
    expect((await journal(dir).recover()).pending).toEqual([]);
  });
});
