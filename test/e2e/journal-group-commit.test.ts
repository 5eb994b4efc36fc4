/**
 * The journal's group commit on the built bin (issue 26): a settle (answered: body out, key kept) waits in memory
 * for the next accept's transaction, or 50 ms, or the close. The guarantees hold as before: a 202 means the body
 * is committed, so after `kill -9` every 202 is answered, even one sent while settles were waiting; and a clean
 * stop writes the waiting settles, so none is answered twice after the restart.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { open as lmdbOpen } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { holds, until } from '../helpers/poll.js';
import { type Child, makeProject, READY, SECRET, sendBounty, spawnBin, useCleanup } from './serve-helpers.js';

const { cleanup, track } = useCleanup();

/** `held-*` bounties scan for HOLD_MS (still pending when the engine is killed); the rest answer benign at once. */
const SCAN = `export async function scan(bounty) {
  await bounty.fetchArtifact();
  if (String(bounty.id).startsWith('held-')) await new Promise((resolve) => setTimeout(resolve, Number(process.env.HOLD_MS)));
  return { verdict: 'benign', metadata: { malware_family: '' } };
}
`;

/** Serves /artifact and takes answers at /answer/<id>; `onAnswer` runs once each answer's 200 is sent. */
async function startHost(onAnswer: (id: string, count: number) => void) {
  const answers: string[] = [];
  const server: Server = createServer((req, res: ServerResponse) => {
    if (req.method === 'GET' && req.url === '/artifact') return void res.writeHead(200).end('harmless bytes\n');
    req.resume();
    req.on('end', () => {
      const id = decodeURIComponent(req.url!.slice('/answer/'.length));
      answers.push(id);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}', () => onAnswer(id, answers.length));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, answers };
}

/** A signed bounty two minutes from expiry, its artifact and answer on `host`. */
const post = (engineUrl: string, host: string, id: string) => sendBounty(engineUrl, host, id, 120_000);

async function start(dir: string, holdMs = 0): Promise<{ child: Child; url: string }> {
  const child = track(
    spawnBin(['start', '--port', '0', '--cwd', dir, '--concurrency', '4'], { WEBHOOK_SECRET: SECRET, HOLD_MS: String(holdMs) }),
  );
  const [, url] = await child.waitFor(READY, 20_000);
  return { child, url: url! };
}

/** The bounty ids the journal holds as pending (`p:`) and as answered (`a:`), read while no engine runs. */
async function journalKeys(dir: string): Promise<{ pending: string[]; answered: string[] }> {
  const db = lmdbOpen<Buffer, string>({
    path: join(dir, '.polyswarm', 'journal.lmdb'),
    encoding: 'binary',
    compression: false,
    readOnly: true,
  });
  const keys = [...db.getKeys()].map(String);
  await db.close();
  const ids = (prefix: string) => keys.filter((k) => k.startsWith(prefix)).map((k) => k.slice(2).replace(/:assertion$/, ''));
  return { pending: ids('p:').sort(), answered: ids('a:').sort() };
}

function project(): string {
  const p = makeProject({ 'src/scan.mjs': SCAN });
  cleanup.push(p.remove);
  return p.dir;
}

describe('the journal under group commit (start)', () => {
  it('a 202, then answers whose settles wait, then kill -9: the restart answers every 202', async () => {
    const dir = project();
    let engine: Child | undefined;
    // The engine is killed 10 ms after the last answer's 200 is sent: it has taken the answer, its settle is waiting.
    const host = await startHost((id) => {
      if (id === 'fast-4') setTimeout(() => engine?.kill('SIGKILL'), 10);
    });
    const first = await start(dir, 60_000);
    engine = first.child;
    // fast-4's 202 is the last accept before the kill, so its settle (and those after the accept) has no transaction
    // to ride with; held-1 was accepted before and is never answered by this process.
    expect(await post(first.url, host.url, 'held-1')).toBe(202);
    for (let i = 0; i < 5; i++) expect(await post(first.url, host.url, `fast-${i}`)).toBe(202);
    expect(await first.child.exited()).toBeGreaterThanOrEqual(128);
    const before = [...host.answers];
    expect(before).not.toContain('held-1');
    const journal = await journalKeys(dir);
    // The 202'd bounty is in the journal, whatever became of the settles.
    expect(journal.pending).toContain('held-1');
    const unsettled = before.filter((id) => journal.pending.includes(id));
    console.log(`kill -9: ${before.length} answered before it, ${unsettled.length} of them with their settle still waiting`);

    const second = await start(dir);
    await second.child.waitFor(/journal recovered restored=\d+/, 20_000);
    // Every bounty answered; answered twice, only those whose settle had not been written when the process died.
    const expected = 6 + unsettled.length;
    await until(() => new Set(host.answers).size === 6 && host.answers.length >= expected, 'the held bounty and every fast one answered', {
      timeoutMs: 30_000,
      detail: () => host.answers.join(' '),
    });
    await holds(() => host.answers.length === expected, 'no further answer', 500, { detail: () => host.answers.join(' ') });
    second.child.kill('SIGTERM');
    expect(await second.child.exited()).toBe(0);
  }, 120_000);

  it('a clean stop with settles waiting writes them: after the restart none is answered twice', async () => {
    const dir = project();
    let engine: Child | undefined;
    // SIGTERM right after the last answer's 200: its settle (and likely others) is still waiting for a transaction.
    const host = await startHost((_id, count) => {
      if (count === 20) engine?.kill('SIGTERM');
    });
    const first = await start(dir);
    engine = first.child;
    const ids = Array.from({ length: 20 }, (_, i) => `done-${i}`);
    await Promise.all(ids.map(async (id) => expect(await post(first.url, host.url, id)).toBe(202)));
    expect(await first.child.exited()).toBe(0);
    expect(new Set(host.answers).size).toBe(20);
    // The close wrote every settle: no body left, every key remembered (so a repeat stays a repeat).
    expect(await journalKeys(dir)).toEqual({ pending: [], answered: [...ids].sort() });

    const answered = host.answers.length;
    const second = await start(dir);
    expect(second.child.output()).not.toMatch(/journal recovered/);
    await holds(() => host.answers.length === answered, 'no answer after the restart', 1000);
    // A delivery of an answered bounty after the restart is a repeat: 202, no second answer.
    expect(await post(second.url, host.url, 'done-0')).toBe(202);
    await holds(() => host.answers.length === answered, 'no answer to the repeat', 500);
    expect(host.answers.length).toBe(20);
    second.child.kill('SIGTERM');
    expect(await second.child.exited()).toBe(0);
  }, 60_000);
});
