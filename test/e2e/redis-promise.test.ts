/**
 * Redis mode keeps the embedded queue's promise (every 202 answered once, before its expiration), tried as an
 * operator would: the built bin as web processes and workers, real redis-servers configured the ways that broke it
 * (no workers, an evicting policy, no persistence, a full Redis, a SIGKILLed Redis, two engines on one database),
 * signed bounties over loopback HTTP and answer receivers in the test.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runBin } from '../helpers/bin.js';
import { bountyBody, SECRET, startLoopback, webhook, type Loopback } from '../helpers/loopback.js';
import { holds } from '../helpers/poll.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { killAll, READY_URL, spawnBin, type Proc } from '../helpers/spawn.js';

/** An engine project named `name` whose scan signs its answers with that name. */
function makeProject(name: string | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'pse-redis-promise-'));
  mkdirSync(join(dir, 'src'));
  mkdirSync(join(dir, 'node_modules'));
  if (name !== null) writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }, null, 2));
  writeFileSync(join(dir, '.env'), `WEBHOOK_SECRET=${SECRET}\n`);
  writeFileSync(
    join(dir, 'src', 'scan.ts'),
    `export async function scan(bounty: { metadata?: { sleep_ms?: number } }) {
  if (bounty.metadata?.sleep_ms) await new Promise((resolve) => setTimeout(resolve, bounty.metadata!.sleep_ms));
  return { verdict: 'benign', metadata: { malware_family: '', engine: ${JSON.stringify(name)} } };
}
`,
  );
  symlinkSync(ROOT, join(dir, 'node_modules', 'polyswarm-engine'), 'dir');
  return dir;
}

const folders: string[] = [];
const servers: RedisServer[] = [];
let lb: Loopback;
let engineA: string;
let engineB: string;

beforeAll(() => {
  engineA = makeProject('engine-a');
  engineB = makeProject('@acme/engine-b');
  folders.push(engineA, engineB);
});
afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await killAll();
  await lb?.close();
  for (const server of servers.splice(0)) await server.close();
});

async function redisWith(args: string[] = []): Promise<RedisServer> {
  const server = await startRedis({ args });
  servers.push(server);
  return server;
}

async function admin(server: RedisServer): Promise<Redis> {
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: true });
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function startWeb(
  redis: RedisServer,
  project: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<{ proc: Proc; url: string }> {
  const proc = spawnBin(['start', '--queue', redis.url, '--port', '0', '--cwd', project, ...extra], env);
  const [, url] = await proc.waitFor(READY_URL);
  return { proc, url: url! };
}

async function startWorker(redis: RedisServer, project: string, extra: string[] = []): Promise<Proc> {
  const proc = spawnBin(['worker', '--queue', redis.url, '--concurrency', '4', '--cwd', project, ...extra]);
  await proc.waitFor(/\bready\b/);
  return proc;
}

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

/** Sends a signed bounty answered at `/answer/<id>`; resolves with the response (status 0 if none). */
async function send(
  url: string,
  id: number,
  fields: Record<string, unknown> = {},
  delivery?: string,
): Promise<{ status: number; retryAfter: string | null; body: string }> {
  const w = webhook(bountyBody({ id, response_url: `${lb.origin}/answer/${id}`, expiration: inMs(20_000), ...fields }), { delivery });
  try {
    const response = await fetch(url, { method: 'POST', headers: w.headers, body: w.body, signal: AbortSignal.timeout(10_000) });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.text() };
  } catch {
    return { status: 0, retryAfter: null, body: '' };
  }
}

function receive(ids: number[]): void {
  for (const id of ids) lb.receiver(`/answer/${id}`);
}

/** How many answers each bounty id got. */
function answerCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const a of lb.answers) counts.set(a.path.slice('/answer/'.length), (counts.get(a.path.slice('/answer/'.length)) ?? 0) + 1);
  return counts;
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

describe('Redis mode keeps the promise', () => {
  it('no workers and --max-queued 100: exactly 100 accepted, the rest 503 with Retry-After; the byte budget too', async () => {
    const redis = await redisWith();
    lb = await startLoopback();
    const { url } = await startWeb(redis, engineA, ['--max-queued', '100']);
    const ids = range(1, 150);
    const results = await Promise.all(ids.map((id) => send(url, id)));
    expect(results.filter((r) => r.status === 202)).toHaveLength(100);
    const refused = results.filter((r) => r.status !== 202);
    expect(refused).toHaveLength(50);
    for (const r of refused) expect(r).toEqual({ status: 503, retryAfter: '5', body: '{"error":"Queue full; retry later"}' });
    const client = await admin(redis);
    try {
      expect(await client.zcard('engine-a:budget:waiting')).toBe(100);
      expect(await client.llen('bull:engine-a:wait')).toBe(100);
    } finally {
      client.disconnect();
    }

    // Bytes: 200 KB bodies against a 1 MiB budget, in another engine's queue: five fit, the sixth does not.
    const { url: urlB } = await startWeb(redis, engineB, ['--max-queued-bytes', '1MiB']);
    const padding = 'x'.repeat(200_000);
    const big: number[] = [];
    for (const id of range(1000, 8)) big.push((await send(urlB, id, { metadata: { padding } })).status);
    expect(big).toEqual([202, 202, 202, 202, 202, 503, 503, 503]);
  }, 60_000);

  it('a Redis that evicts keys (allkeys-lru): start --queue and worker refuse to run, exit 2, saying why and how to fix it', async () => {
    const redis = await redisWith(['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru']);
    const web = await runBin(['start', '--queue', redis.url, '--port', '0', '--cwd', engineA], { env: { WEBHOOK_SECRET: SECRET } });
    expect(web.exitCode).toBe(2);
    expect(web.stderr).toContain(
      `Error: Redis at redis://127.0.0.1:${redis.port}/0 has maxmemory-policy allkeys-lru: when it is full it deletes keys, and with them bounties already acknowledged`,
    );
    expect(web.stderr).toContain('Hint: Set `maxmemory-policy noeviction`');
    // BullMQ's own warning is not what the operator sees: the engine stopped before BullMQ connected.
    expect(web.stderr + web.stdout).not.toContain('IMPORTANT! Eviction policy');
    const worker = await runBin(['worker', '--queue', redis.url, '--cwd', engineA]);
    expect(worker.exitCode).toBe(2);
    expect(worker.stderr).toContain('has maxmemory-policy allkeys-lru');
  });

  it('workers down, bounties expiring in 8 s: each answered unknown (SKIPPED:TIMEOUT) once, before its expiration', async () => {
    const redis = await redisWith();
    lb = await startLoopback();
    const { proc: web, url } = await startWeb(redis, engineA);
    const ids = range(1, 20);
    receive(ids);
    const expiration = Date.now() + 8000;
    for (const id of ids) expect((await send(url, id, { expiration: new Date(expiration).toISOString() })).status).toBe(202);
    const answers = await lb.waitForAnswers(20, { timeoutMs: 12_000 });
    for (const answer of answers) {
      expect(answer.at).toBeLessThan(expiration);
      expect(answer.json).toMatchObject({ verdict: 'unknown', bid: 0, metadata: { comments: ['SKIPPED:TIMEOUT'] } });
    }
    // A worker that comes up now finds nothing to scan, and nothing is posted twice.
    const worker = await startWorker(redis, engineA);
    await holds(
      () => !worker.lines.some((l) => /scan started|answer bounty=/.test(l)) && lb.attempts.length === 20,
      'the new worker idle',
      1000,
    );
    expect(worker.lines.some((l) => /scan started|answer bounty=/.test(l))).toBe(false);
    expect([...answerCounts().values()].filter((n) => n !== 1)).toEqual([]);
    expect(lb.attempts).toHaveLength(20);
    expect(web.lines.filter((l) => /WARN\s+bounty reached its scan deadline in the queue/.test(l))).toHaveLength(20);
  }, 30_000);

  it('two engines on one Redis database, each with its own worker: each bounty answered by its own engine’s code', async () => {
    const redis = await redisWith();
    lb = await startLoopback();
    const a = await startWeb(redis, engineA);
    const b = await startWeb(redis, engineB);
    await Promise.all([startWorker(redis, engineA), startWorker(redis, engineB)]);
    const ids = range(1, 20);
    receive(ids);
    receive(ids.map((id) => id + 100));
    // The same delivery ids sent to both (the case): each engine stores and answers its own.
    for (const id of ids) {
      expect((await send(a.url, id, {}, `delivery-${id}`)).status).toBe(202);
      expect((await send(b.url, id + 100, {}, `delivery-${id}`)).status).toBe(202);
    }
    const answers = await lb.waitForAnswers(40, { timeoutMs: 15_000 });
    for (const answer of answers) {
      const id = Number(answer.path.slice('/answer/'.length));
      expect((answer.json.metadata as { engine: string }).engine).toBe(id > 100 ? '@acme/engine-b' : 'engine-a');
    }
    expect(a.proc.lines.join('\n')).toMatch(/queue="redis redis:\/\/127\.0\.0\.1:\d+\/0 \(web only: workers scan; queue engine-a\)"/);
    expect(b.proc.lines.join('\n')).toMatch(
      /queue="redis redis:\/\/127\.0\.0\.1:\d+\/0 \(web only: workers scan; queue @acme\/engine-b\)"/,
    );

    // A worker of engine B pointed at engine A's queue would answer A's bounties with B's code: refused.
    const wrong = await runBin(['worker', '--queue', redis.url, '--queue-name', 'engine-a', '--cwd', engineB]);
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr).toContain(
      `Error: the queue "engine-a" on redis://127.0.0.1:${redis.port}/0 belongs to the engine "engine-a", but this worker runs "@acme/engine-b": it would scan the other engine’s bounties with this code`,
    );
    expect(wrong.stderr).toContain(
      'Hint: Run the worker from the "engine-a" project, or give each engine its own queue with --queue-name (POLYSWARM_QUEUE_NAME).',
    );
    const badName = await runBin(['worker', '--queue', redis.url, '--cwd', engineA], { env: { POLYSWARM_QUEUE_NAME: 'a:b' } });
    expect(badName.exitCode).toBe(2);
    expect(badName.stderr).toContain(
      'Error: $POLYSWARM_QUEUE_NAME (for --queue-name): "a:b" contains `:` (Redis keys use it as a separator)',
    );
  }, 60_000);

  it('Redis SIGKILLed and restarted with AOF on: nothing lost, and redeliveries are still duplicates', async () => {
    const redis = await redisWith(['--appendonly', 'yes', '--appendfsync', 'always']);
    lb = await startLoopback();
    const { url, proc: web } = await startWeb(redis, engineA);
    // With AOF, no warning about persistence.
    expect(web.lines.some((l) => /does not persist/.test(l))).toBe(false);
    const ids = range(1, 50);
    receive(ids);
    for (const id of ids) expect((await send(url, id, {}, `d-${id}`)).status).toBe(202);
    await redis.kill();
    await redis.start();
    await web.waitFor(/INFO\s+redis reconnected/, 10_000);
    // The same deliveries again (PolySwarm retrying): duplicates, not new jobs.
    for (const id of ids.slice(0, 10)) expect((await send(url, id, {}, `d-${id}`)).status).toBe(202);
    await startWorker(redis, engineA);
    await lb.waitForAnswers(50, { timeoutMs: 15_000 });
    await holds(() => lb.answers.length === 50, 'no answer beyond the 50', 500);
    expect(answerCounts().size).toBe(50);
    expect([...answerCounts().values()].filter((n) => n !== 1)).toEqual([]);
    expect(web.lines.filter((l) => /delivery .*duplicate=true/.test(l))).toHaveLength(10);
  }, 60_000);

  it('a Redis without persistence, and bounties left in the old shared queue: web process and worker each warn once, clearly', async () => {
    const redis = await redisWith();
    // Two jobs an earlier version left in the queue name every engine used to share.
    const client = await admin(redis);
    await client.rpush('bull:polyswarm-bounties:wait', 'bounty-1', 'bounty-2');
    client.disconnect();
    const { proc: web } = await startWeb(redis, engineA);
    const worker = await startWorker(redis, engineA);
    for (const proc of [web, worker]) {
      expect(
        proc.lines.filter((l) =>
          /WARN\s+Redis does not persist \(no AOF, no RDB snapshots\): a Redis restart loses every queued bounty/.test(l),
        ),
      ).toHaveLength(1);
      expect(
        proc.lines.filter((l) =>
          /WARN\s+2 bounties wait in the queue polyswarm-bounties, which engines no longer share by default; this process uses engine-a/.test(
            l,
          ),
        ),
      ).toHaveLength(1);
    }
  });

  it('a full Redis (noeviction): 503 with Retry-After and no Redis error text; GET / says out of memory', async () => {
    const redis = await redisWith(['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction']);
    lb = await startLoopback();
    const { url, proc: web } = await startWeb(redis, engineA);
    const padding = 'x'.repeat(200_000);
    let refused: Awaited<ReturnType<typeof send>> | undefined;
    for (let id = 1; id <= 40 && !refused; id++) {
      const result = await send(url, id, { metadata: { padding } });
      if (result.status !== 202) refused = result;
    }
    expect(refused).toEqual({ status: 503, retryAfter: '5', body: '{"error":"Queue unavailable: the shared queue is out of memory"}' });
    const health = await fetch(url);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'UNAVAILABLE', detail: 'the shared queue is out of memory' });
    // Refused before Redis itself refuses (docs/protocol.md, Redis memory); the operator's log says how full it is.
    await web.waitFor(/WARN\s+Redis memory is at its budget: bounties are refused with 503 .*used_memory=\d+ maxmemory=4194304/);
  }, 30_000);

  it('secrets: --secret-file for start, a warning for --secret on every long-running process, both at once refused', async () => {
    const redis = await redisWith();
    const secretFile = join(engineA, 'webhook-secret');
    writeFileSync(secretFile, `${SECRET}\n`);
    const fromFile = await startWeb(redis, engineA, ['--secret-file', secretFile], { WEBHOOK_SECRET: '' });
    expect(fromFile.proc.lines.join('\n')).toContain(`secret_from=${secretFile}`);
    expect(fromFile.proc.lines.some((l) => /--secret/.test(l) && /WARN/.test(l))).toBe(false);
    const w = webhook(bountyBody({ expiration: inMs(10_000) }), { event: 'ping' });
    expect((await fetch(fromFile.url, { method: 'POST', headers: w.headers, body: w.body })).status).toBe(200);

    for (const command of ['start', 'serve']) {
      const proc = spawnBin([
        command,
        '--queue',
        redis.url,
        '--port',
        '0',
        '--cwd',
        engineA,
        '--secret',
        SECRET,
        ...(command === 'serve' ? ['--no-watch'] : []),
      ]);
      await proc.waitFor(/WARN\s+a webhook secret was given with --secret, where `ps` shows it to every user of this machine/);
    }

    const both = await runBin(['start', '--queue', redis.url, '--cwd', engineA, '--secret', SECRET, '--secret-file', secretFile]);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain('Error: both --secret and --secret-file are given');
    const missing = await runBin(['start', '--queue', redis.url, '--cwd', engineA], {
      env: { WEBHOOK_SECRET_FILE: '/nonexistent/secret' },
    });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('Error: cannot read the webhook secret file /nonexistent/secret: no such file');
    writeFileSync(secretFile, '\n');
    const empty = await runBin(['start', '--queue', redis.url, '--cwd', engineA, '--secret-file', secretFile]);
    expect(empty.exitCode).toBe(2);
    expect(empty.stderr).toContain(`Error: the webhook secret file ${secretFile} is empty`);
  }, 60_000);
});
