/**
 * The Redis queue behind Sentinel, as self-run Redis is made highly available: a master, one replica and three
 * Sentinels (quorum 2, down after 1 s). A steady stream of bounties with slow scans goes through one web process and
 * two workers; the master is SIGKILLed mid-stream; the Sentinels promote the replica and the processes follow
 * without a restart. Every bounty that got a 202 is answered exactly once before its expiration: the web process
 * waited for the replica to hold each one before its 202 (WAIT), so the failover loses none.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRedisUrl } from '../../src/engine/redis/index.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bountyBody, type Loopback, SECRET, startLoopback, webhook } from '../helpers/loopback.js';
import { holds, until, work } from '../helpers/poll.js';
import { type SentinelGroup, startSentinelGroup } from '../helpers/redis.js';
import { killAll, READY_URL, spawnBin } from '../helpers/spawn.js';

/** Sleeps `metadata.sleep_ms` and signs the answer with its pid. */
const SLOW_SCAN = `export async function scan(bounty) {
  await new Promise((resolve) => setTimeout(resolve, bounty.metadata?.sleep_ms ?? 0));
  return { verdict: 'benign', metadata: { malware_family: '', scanned_by: process.pid } };
}
`;

let group: SentinelGroup;
let project: string;
let lb: Loopback;

beforeAll(async () => {
  group = await startSentinelGroup();
  project = mkdtempSync(join(tmpdir(), 'pse-redis-sentinel-'));
  mkdirSync(join(project, 'src'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'sentinel-engine', private: true, type: 'module' }));
  writeFileSync(join(project, 'src', 'scan.mjs'), SLOW_SCAN);
  lb = await startLoopback();
}, 60_000);
afterAll(async () => {
  await lb?.close();
  await group?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});
afterEach(() => killAll());

describe('Redis behind Sentinel', () => {
  it('Sentinel URLs: the Sentinels, the master’s name and database, a password never shown; a precise message otherwise', () => {
    expect(parseRedisUrl('redis+sentinel://app:p%40ss@10.0.0.1:26379,[::1],s3:26380/mymaster/2')).toMatchObject({
      display: 'redis+sentinel://app:***@10.0.0.1:26379,[::1],s3:26380/mymaster/2',
      options: {
        sentinels: [
          { host: '10.0.0.1', port: 26379 },
          { host: '::1', port: 26379 },
          { host: 's3', port: 26380 },
        ],
        name: 'mymaster',
        db: 2,
        username: 'app',
        password: 'p@ss',
      },
    });
    expect(parseRedisUrl('rediss+sentinel://s1/mymaster').options).toMatchObject({
      tls: {},
      sentinelTLS: {},
      enableTLSForSentinelMode: true,
    });
    expect(() => parseRedisUrl('redis+sentinel://s1:26379/')).toThrow('no master name after the Sentinels');
    expect(() => parseRedisUrl('redis+sentinel://s1:26379/mymaster/x')).toThrow('the database "x" is not a number');
    expect(() => parseRedisUrl('redis+sentinel://s1:26379,s2:x/mymaster')).toThrow(
      /"redis\+sentinel:\/\/s1:26379,s2:x\/mymaster" is not a URL/,
    );
  });

  it('the master SIGKILLed mid-stream: the replica is promoted, every 202 answered exactly once before its expiration', async () => {
    lb.receiver('/answer');
    const web = spawnBin(['start', '--queue', group.url, '--port', '0', '--cwd', project], { WEBHOOK_SECRET: SECRET });
    const [, url] = await web.waitFor(READY_URL);
    const workers = [1, 2].map(() => spawnBin(['worker', '--queue', group.url, '--concurrency', '4', '--cwd', project]));
    await Promise.all(workers.map((w) => w.waitFor(/\bready\b/)));

    // Each bounty has 30 s from its first sending; a refused one is sent again (as PolySwarm redelivers) for 10 s.
    const expirations = new Map<number, number>();
    const accepted = new Set<number>();
    const statuses: Record<string, number> = {};
    let next = 1;
    let sending = true;
    let killedAt = 0;
    const send = async (id: number): Promise<number> => {
      const body = bountyBody({
        id,
        expiration: new Date(expirations.get(id)!).toISOString(),
        response_url: `${lb.origin}/answer?id=${id}`,
        metadata: { sleep_ms: 300 },
      });
      const w = webhook(body, { delivery: `sentinel-${id}` });
      try {
        const response = await fetch(url!, { method: 'POST', headers: w.headers, body: w.body, signal: AbortSignal.timeout(5000) });
        await response.arrayBuffer();
        return response.status;
      } catch {
        return 0;
      }
    };
    const senders = Array.from({ length: 4 }, async () => {
      while (sending) {
        const id = next++;
        expirations.set(id, Date.now() + 30_000);
        for (const until = Date.now() + 10_000; Date.now() < until; await work(100)) {
          const status = await send(id);
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status === 202) {
            accepted.add(id);
            break;
          }
        }
        // A sender's pace, not a wait of the test.
        await work(30);
      }
    });

    await until(() => accepted.size >= 40, '40 bounties accepted before the failover', 20_000);
    const oldMaster = group.masterPort();
    expect(oldMaster).toBe(group.master.port);
    const acceptedBefore = accepted.size;
    // Each 202 so far waited for the replica: the master counted a WAIT for each (and one per refused retry at most).
    const waits = Number(
      /cmdstat_wait:calls=(\d+)/.exec(
        execFileSync('redis-cli', ['-p', String(oldMaster), 'info', 'commandstats'], { encoding: 'utf8' }),
      )?.[1] ?? 0,
    );
    expect(waits).toBeGreaterThanOrEqual(acceptedBefore);
    killedAt = Date.now();
    await group.master.kill();
    await until(() => group.masterPort() === group.replica.port, 'the Sentinels to promote the replica', {
      timeoutMs: 20_000,
      everyMs: 100,
    });
    const promotedAfter = Date.now() - killedAt;
    await until(() => accepted.size >= acceptedBefore + 40, '40 more bounties accepted by the promoted replica', 30_000);
    sending = false;
    await Promise.all(senders);

    await until(() => [...accepted].every((id) => lb.answers.some((a) => a.url === `/answer?id=${id}`)), 'an answer to every 202', {
      timeoutMs: 40_000,
      everyMs: 100,
      detail: () => `answered ${new Set(lb.answers.map((a) => a.url)).size} of ${accepted.size}`,
    });
    // Anything posted twice would show right after.
    await holds(() => true, 'a moment for second answers', 1000);
    const counts = new Map<number, number>();
    for (const a of lb.answers) {
      const id = Number(new URL(a.url, lb.origin).searchParams.get('id'));
      counts.set(id, (counts.get(id) ?? 0) + 1);
      expect(a.at, `bounty ${id} answered after its expiration`).toBeLessThan(expirations.get(id)!);
    }
    const lost = [...accepted].filter((id) => !counts.has(id));
    const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    console.log(
      `Sentinel failover: ${accepted.size} bounties accepted (${acceptedBefore} before the kill), replica promoted ${promotedAfter} ms after it; statuses ${JSON.stringify(statuses)}; lost ${lost.length}, answered twice ${twice.length}`,
    );
    expect(lost).toEqual([]);
    expect(twice).toEqual([]);
    // The processes followed the failover by themselves, and said so. A worker's watched connection is not the one
    // BullMQ takes jobs on, so its line may come after the last answer: polled, with each process's Redis lines shown
    // if one never logs it (seen on a loaded machine, cause not yet found).
    const reconnected = (p: { lines: string[] }) => p.lines.some((l) => /INFO\s+redis reconnected/.test(l));
    await until(() => [web, ...workers].every(reconnected), 'every process logging "redis reconnected"', {
      timeoutMs: 15_000,
      everyMs: 100,
      detail: () =>
        [web, ...workers]
          .map((p, i) => `${i === 0 ? 'web' : `worker ${i}`}: ${reconnected(p)}\n  ${p.lines.filter((l) => /redis/i.test(l)).join('\n  ')}`)
          .join('\n'),
    });
  }, 120_000);
});
