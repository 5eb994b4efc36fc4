/**
 * The Redis queue on a Redis Cluster of three masters, as managed services often run it: the same `redis://` URL form
 * (any node), cluster mode found from the server. Every key of one engine's queue is in one hash slot; the
 * conformance suite passes; two engines on one cluster stay apart; `--max-queued` holds across web processes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { bountyBody, EICAR, type Loopback, SECRET, startLoopback, webhook } from '../helpers/loopback.js';
import { until } from '../helpers/poll.js';
import { type RedisCluster, startCluster } from '../helpers/redis.js';
import { killAll, READY_URL, spawnBin } from '../helpers/spawn.js';

/** EICAR is malicious, anything else benign; the answer says which engine scanned it. */
const scanOf = (engine: string) => `const EICAR = ${JSON.stringify(EICAR)};
export async function scan(bounty) {
  if (bounty.artifact_type === 'url') return { verdict: 'unknown', metadata: { comments: ['SKIPPED:TYPE-UNSUPPORTED'] } };
  const bytes = await bounty.fetchArtifact();
  return bytes.toString('latin1') === EICAR
    ? { verdict: 'malicious', metadata: { malware_family: 'EICAR-Test-File', engine: '${engine}' } }
    : { verdict: 'benign', metadata: { malware_family: '', engine: '${engine}' } };
}
`;

let cluster: RedisCluster;
const projects: Record<'a' | 'b', string> = { a: '', b: '' };
let lb: Loopback;

beforeAll(async () => {
  cluster = await startCluster(3);
  for (const engine of ['a', 'b'] as const) {
    const dir = mkdtempSync(join(tmpdir(), `pse-redis-cluster-${engine}-`));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `cluster-engine-${engine}`, private: true, type: 'module' }));
    writeFileSync(join(dir, 'src', 'scan.mjs'), scanOf(engine));
    projects[engine] = dir;
  }
  lb = await startLoopback();
}, 60_000);
afterAll(async () => {
  await lb?.close();
  await cluster?.close();
  for (const dir of Object.values(projects)) if (dir) rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await killAll();
  for (const node of cluster.nodes) cli(node.port, 'flushall');
});

const cli = (port: number, ...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });

async function startWeb(engine: 'a' | 'b', node = 0, extra: string[] = []): Promise<string> {
  const args = ['start', '--queue', cluster.nodes[node]!.url, '--port', '0', '--cwd', projects[engine], ...extra];
  const [, url] = await spawnBin(args, { WEBHOOK_SECRET: SECRET }).waitFor(READY_URL);
  return url!;
}

async function startWorker(engine: 'a' | 'b', node = 0): Promise<void> {
  await spawnBin(['worker', '--queue', cluster.nodes[node]!.url, '--concurrency', '4', '--cwd', projects[engine]]).waitFor(/\bready\b/);
}

/** Sends a signed bounty (its artifact EICAR) whose answer goes to `/answer?id=<id>`; resolves with the status. */
async function send(url: string, id: number): Promise<number> {
  const artifact = lb.artifact(`/artifact/${id}`, EICAR);
  const body = bountyBody({
    id,
    artifact_uri: artifact,
    expiration: new Date(Date.now() + 20_000).toISOString(),
    response_url: `${lb.origin}/answer?id=${id}`,
  });
  const w = webhook(body);
  const response = await fetch(url, { method: 'POST', headers: w.headers, body: w.body, signal: AbortSignal.timeout(10_000) });
  await response.arrayBuffer();
  return response.status;
}

/** Every key on every node, with the port of the node that holds it. */
function keys(): { key: string; port: number }[] {
  return cluster.nodes.flatMap((n) =>
    cli(n.port, '--scan')
      .split('\n')
      .filter(Boolean)
      .map((key) => ({ key, port: n.port })),
  );
}

describe('Redis Cluster (three masters)', () => {
  it('`test all` passes through start and a worker on different nodes; the queue’s keys share one slot', async () => {
    const url = await startWeb('a', 0);
    await startWorker('a', 1);
    const result = await runBin(['test', 'all', '--url', url, '--secret', SECRET, '--expiration', '10s'], { timeout: 90_000 });
    expect(result.stdout).toMatch(/\b\d+ passed, 0 failed\b/);
    expect(result.exitCode).toBe(0);
    // BullMQ's keys and the engine's own (budget, seen, posted, alive) are all hash-tagged, so all on one node.
    const queueKeys = keys().filter(({ key }) => key.includes('cluster-engine-a'));
    expect(queueKeys.some(({ key }) => key.startsWith('bull:{cluster-engine-a}:'))).toBe(true);
    expect(queueKeys.some(({ key }) => key.startsWith('{cluster-engine-a}:budget:'))).toBe(true);
    expect(queueKeys.filter(({ key }) => !key.includes('{cluster-engine-a}'))).toEqual([]);
    expect(new Set(queueKeys.map(({ port }) => port)).size).toBe(1);
  }, 120_000);

  it('two engines on one cluster stay apart: each answers its own bounties, a worker cannot take the other’s queue', async () => {
    lb.receiver('/answer');
    const urls = { a: await startWeb('a', 0), b: await startWeb('b', 2) };
    await Promise.all([startWorker('a', 1), startWorker('b', 1)]);
    const sent: Record<number, 'a' | 'b'> = {};
    for (let id = 1; id <= 20; id++) {
      const engine = id % 2 ? 'a' : 'b';
      sent[id] = engine;
      expect(await send(urls[engine], id)).toBe(202);
    }
    await until(() => lb.answers.length >= 20, '20 answers', 20_000);
    const by = lb.answers.map((a) => [
      Number(new URL(a.url, lb.origin).searchParams.get('id')),
      (a.json.metadata as { engine?: string }).engine,
    ]);
    expect(by.sort((x, y) => Number(x[0]) - Number(y[0]))).toEqual(Object.entries(sent).map(([id, engine]) => [Number(id), engine]));
    // Engine b's worker pointed at engine a's queue is refused.
    const intruder = await runBin(['worker', '--queue', cluster.url, '--queue-name', 'cluster-engine-a', '--cwd', projects.b]);
    expect(intruder.exitCode).toBe(2);
    expect(intruder.stderr).toContain('Error: the queue "{cluster-engine-a}"');
    expect(intruder.stderr).toContain('belongs to the engine "cluster-engine-a"');
  }, 60_000);

  it('a master that would evict refuses the start, whichever master it is (the eviction check reads every one)', async () => {
    const last = cluster.nodes[2]!.port;
    cli(last, 'config', 'set', 'maxmemory-policy', 'allkeys-lru');
    try {
      const run = await runBin(['start', '--queue', cluster.url, '--port', '0', '--cwd', projects.a], { env: { WEBHOOK_SECRET: SECRET } });
      expect(run.exitCode).toBe(2);
      expect(run.stderr).toContain('has maxmemory-policy allkeys-lru');
    } finally {
      cli(last, 'config', 'set', 'maxmemory-policy', 'noeviction');
    }
  });

  it('--max-queued holds across two web processes on different nodes', async () => {
    const urls = [await startWeb('a', 0, ['--max-queued', '5']), await startWeb('a', 2, ['--max-queued', '5'])];
    const statuses: number[] = [];
    for (let id = 1; id <= 12; id++) statuses.push(await send(urls[id % 2]!, 100 + id));
    expect(statuses.filter((s) => s === 202)).toHaveLength(5);
    expect(statuses.filter((s) => s === 503)).toHaveLength(7);
  }, 60_000);
});
