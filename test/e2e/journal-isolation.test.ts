/**
 * The journal's isolation from a crash and from damage, on the built bin (issue 24, items 3 and 4): `start` comes
 * back after every `kill -9` (the lock dies with its process: no pid to be reused), and a damaged journal.lmdb is
 * refused with exit 2 naming the file, or recovered with a line that counts what was lost; never a signal, never a
 * silent empty start.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, READY, SECRET, sendBounty, spawnBin, startLoopback, useCleanup } from './serve-helpers.js';

const { cleanup, track } = useCleanup();

/** Scans for SCAN_SLEEP_MS (so bounties are still in the journal when the engine is killed), then answers benign. */
const SCAN = `export async function scan(bounty) {
  await bounty.fetchArtifact();
  await new Promise((resolve) => setTimeout(resolve, Number(process.env.SCAN_SLEEP_MS ?? 0)));
  return { verdict: 'benign', metadata: { malware_family: '' } };
}
`;

function project() {
  const p = makeProject({ 'src/scan.mjs': SCAN });
  cleanup.push(p.remove);
  return p.dir;
}

function start(dir: string, sleepMs: number) {
  return track(
    spawnBin(['start', '--port', '0', '--cwd', dir], { WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'info', SCAN_SLEEP_MS: String(sleepMs) }),
  );
}

/** A signed bounty two minutes from expiry, padded so the journal holds a body of some size. */
const postBounty = (url: string, host: string, id: string) => sendBounty(url, host, id, 120_000, { metadata: { pad: id.repeat(100) } });

describe('the journal across kill -9 and damage (start)', () => {
  it('10 immediate restarts after kill -9, the old pid record naming a live process: 10 starts, every bounty answered', async () => {
    const dir = project();
    const host = await startLoopback();
    cleanup.push(host.close);
    const state = join(dir, '.polyswarm');
    const restored: number[] = [];
    for (let run = 0; run < 10; run++) {
      const child = start(dir, 60_000);
      await child.waitFor(READY, 20_000);
      const recovered = child.lines.map((l) => /journal recovered restored=(\d+)/.exec(l)).find(Boolean);
      restored.push(recovered ? Number(recovered[1]) : 0);
      const [, url] = (await child.waitFor(READY))!;
      expect(await postBounty(url!, host.url, `run-${run}`)).toBe(202);
      child.kill('SIGKILL');
      expect(await child.exited()).toBeGreaterThanOrEqual(128);
      // What a pid lock would have trusted: the dead engine's record names a live process (this test runner), as
      // when pid 1 of a container is reused. The kernel lock has no pid to reuse; its socket file is left behind.
      writeFileSync(join(state, 'journal.lock'), String(process.pid));
      expect(existsSync(join(state, 'journal.sock'))).toBe(true);
    }
    // Each start took over the journal and restored what the previous runs had accepted.
    expect(restored).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const last = start(dir, 0);
    await last.waitFor(/journal recovered restored=10\b/, 20_000);
    await host.waitForAnswers(10, 20_000);
    expect(new Set(host.answers.map((a) => a.id)).size).toBe(10);
    last.kill('SIGTERM');
    expect(await last.exited()).toBe(0);
  }, 240_000);

  const damages: [string, (file: string) => void][] = [
    ['truncated to 0 bytes', (f) => writeFileSync(f, '')],
    ['truncated to 8 KiB', (f) => writeFileSync(f, readFileSync(f).subarray(0, 8 * 1024))],
    ['truncated to 20 KiB', (f) => writeFileSync(f, readFileSync(f).subarray(0, 20 * 1024))],
    [
      'random bytes over its first pages',
      (f) => {
        const bytes = readFileSync(f);
        for (let i = 0; i < 12 * 1024; i++) bytes[i] = (i * 2654435761) >>> 24;
        writeFileSync(f, bytes);
      },
    ],
    [
      'one page overwritten (the one holding a bounty)',
      (f) => {
        const bytes = readFileSync(f);
        const at = bytes.lastIndexOf('dmg-3dmg-3dmg-3');
        expect(at).toBeGreaterThan(0);
        const page = Math.floor(at / 4096) * 4096;
        for (let i = 0; i < 4096; i++) bytes[page + i] = (i * 40503) >>> 8;
        writeFileSync(f, bytes);
      },
    ],
    [
      'bytes changed inside one record',
      (f) => {
        const bytes = readFileSync(f);
        let changed = 0;
        for (let at = bytes.indexOf('dmg-5dmg-5'); at !== -1; at = bytes.indexOf('dmg-5dmg-5', at + 1)) {
          bytes[at] = 'X'.charCodeAt(0);
          changed++;
        }
        expect(changed).toBeGreaterThan(0);
        writeFileSync(f, bytes);
      },
    ],
  ];

  it.each(damages)(
    'journal.lmdb %s: exit 2 naming the file, or a recovery that counts the loss; never a signal',
    async (_name, damage) => {
      const dir = project();
      const host = await startLoopback();
      cleanup.push(host.close);
      const first = start(dir, 60_000);
      const [, url] = await first.waitFor(READY, 20_000);
      for (let i = 0; i < 10; i++) expect(await postBounty(url!, host.url, `dmg-${i}`)).toBe(202);
      first.kill('SIGKILL');
      await first.exited();
      const file = join(dir, '.polyswarm', 'journal.lmdb');
      expect(statSync(file).size).toBeGreaterThan(20 * 1024);
      damage(file);

      const second = start(dir, 0);
      // Either it becomes ready, or it exits (then waitFor rejects, and the exit code is the answer).
      const code = await second.waitFor(READY, 30_000).then(
        () => 'ready' as const,
        () => second.exited(),
      );
      const output = second.output();
      if (code === 'ready') {
        // Recovered: every bounty restored, or the ones missing counted in a line naming the journal.
        const restored = Number(/journal recovered restored=(\d+)/.exec(output)?.[1] ?? 0);
        // Every record restored, or the missing ones each named and counted on the recovery line.
        if (restored < 10) {
          expect(output).toMatch(new RegExp(`journal recovered restored=${restored} expired=0 unreadable=${10 - restored}`));
          expect(output.match(/journal record could not be read back; removed/g)).toHaveLength(10 - restored);
        }
        await host.waitForAnswers(restored, 20_000);
        console.log(`${_name}: recovered ${restored} of 10`);
        second.kill('SIGTERM');
        expect(await second.exited()).toBe(0);
      } else {
        expect(code).toBe(2);
        expect(output).toContain(`Error: the journal ${file} is damaged: `);
        expect(output).toContain('move the file aside');
        console.log(`${_name}: exit 2, ${/is damaged: ([^.]*)/.exec(output)?.[1]}`);
      }
    },
    60_000,
  );
});
