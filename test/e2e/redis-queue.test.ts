/**
 * The Redis queue as a library, against a real redis-server: a web-only engine stores bounties, a worker in the same
 * test process scans them. Duplicate deliveries, expired jobs, the post-once guard, Redis down at enqueue time, and
 * bad queue URLs. (Process-level tests with the built bin are in redis-processes.test.ts.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/engine.js';
import { createPrometheusMetrics } from '../../src/engine/metrics/prometheus.js';
import { combineObservers } from '../../src/engine/observer.js';
import { Inspector } from '../../src/inspector/inspector.js';
import { createRecorder } from '../../src/inspector/recorder.js';
import {
  Budget,
  DEFAULT_QUEUE_NAME,
  decodeJob,
  encodeJob,
  jobIdFor,
  parseRedisUrl,
  PostOnceGuard,
  RedisQueue,
} from '../../src/engine/redis/index.js';
import type { RedisClient } from '../../src/engine/redis/connection.js';
import { jobKey } from '../../src/protocol/job.js';
import { createRedisWorker, type RedisWorker } from '../../src/engine/worker.js';
import type { ScanModule } from '../../src/engine/types.js';
import { parseBountyBody } from '../../src/protocol/bounty.js';
import { toCliError } from '../../src/runtime/engine-errors.js';
import type { CliError } from '../../src/util/errors.js';
import { createLogger, type Logger } from '../../src/util/logger.js';
import { bountyBody, SECRET, startLoopback, until, webhook, type Loopback } from '../helpers/loopback.js';
import { holds, work } from '../helpers/poll.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

let redis: RedisServer;
let lb: Loopback;
let admin: Redis;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.close();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  await lb?.close();
  await admin.flushall();
});

/** A logger whose JSON lines the test can read. */
function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ format: 'json', level: 'debug', stream }), lines };
}

/**
 * A client whose first call of `method` runs twice in Redis, the first reply dropped: what ioredis does when a reply is
 * lost with the connection and it sends the command again on reconnecting.
 */
function replayingFirst(method: string): { redis: RedisClient; replayed: () => boolean } {
  const client = new Redis(redis.port, '127.0.0.1');
  cleanups.push(async () => client.disconnect());
  let replayed = false;
  const proxy = new Proxy(client, {
    get(target, name) {
      const value = Reflect.get(target, name, target) as unknown;
      if (typeof value !== 'function') return value;
      if (name !== method || replayed) return value.bind(target);
      return async (...args: unknown[]) => {
        replayed = true;
        await value.apply(target, args);
        return value.apply(target, args);
      };
    },
  });
  return { redis: proxy as unknown as RedisClient, replayed: () => replayed };
}

/** An async condition, polled by the suite's one helper. */
const eventually = (condition: () => Promise<boolean>, what: string, timeoutMs = 5000) => until(condition, what, timeoutMs);

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

async function web(logger?: Logger, keepCompleted?: number): Promise<{ engine: Engine; url: string }> {
  const queue = new RedisQueue({ role: 'web', url: redis.url, logger, keepCompleted });
  const engine = createEngine({ secret: SECRET, module: { scan: () => ({ verdict: 'unknown' }) }, queue, logger });
  cleanups.push(() => engine.close({ graceMs: 0 }));
  await queue.ready(5000);
  const listener = await engine.listen({ port: 0 });
  return { engine, url: listener.url };
}

function worker(module: ScanModule, options: { logger?: Logger; concurrency?: number } = {}): RedisWorker {
  const w = createRedisWorker({
    queue: redis.url,
    module,
    concurrency: options.concurrency ?? 4,
    lockDurationMs: 2000,
    deliveryMarginMs: 200,
    logger: options.logger,
  });
  cleanups.push(() => w.close({ graceMs: 0 }));
  return w;
}

async function post(url: string, overrides: Record<string, unknown>, delivery?: string): Promise<Response> {
  const w = webhook(bountyBody({ response_url: `${lb.origin}/answer`, ...overrides }), { delivery });
  return fetch(url, { method: 'POST', headers: w.headers, body: w.body, signal: AbortSignal.timeout(5000) });
}

describe('Redis queue (library, real redis-server)', () => {
  it("an answer's claim that Redis ran twice (reply lost, sent again on reconnecting) is still this worker's: posted once", async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    // What a Redis restart did to a worker: the claim ran, the connection dropped before its reply, ioredis sent it
    // again; the worker read its own claim as another's, and nobody posted.
    const client = replayingFirst('eval');
    const guard = new PostOnceGuard(client.redis, { namespace: 'replay', leaseMs: 2000, logger: createLogger({ level: 'silent' }) });
    const answer = {
      url: `${lb.origin}/answer`,
      body: '{"verdict":"benign"}',
      expiration: new Date(Date.now() + 10_000),
      bountyId: '7',
      key: '7:assertion',
    };
    expect(await guard.post(answer)).toMatchObject({ ok: true, status: 200, attempts: 1 });
    expect(client.replayed()).toBe(true);
    // A re-run of the job (BullMQ retried it) finds the answer posted and does not post it again.
    expect(await guard.post(answer)).toMatchObject({ ok: false, error: 'already answered by an earlier run; not posted again' });
    expect(lb.answers).toHaveLength(1);
  });

  it('an overdue claim that Redis ran twice is still this process’s; a second claimant still loses', async () => {
    const client = replayingFirst('pseBudgetClaimOverdue');
    const budget = new Budget(client.redis, 'replay-overdue');
    expect(await budget.claimOverdue('job-1', 10_000)).toBe(true);
    expect(client.replayed()).toBe(true);
    // Another process (another call, another token) finds it claimed: one answer for the job.
    expect(await new Budget(admin, 'replay-overdue').claimOverdue('job-1', 10_000)).toBe(false);
  });

  it('web enqueues and answers 202; a worker scans and posts the answer once', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const { engine, url } = await web();
    const scanned: string[] = [];
    const w = worker({
      scan: (bounty) => {
        scanned.push(bounty.id);
        return { verdict: 'malicious', metadata: { malware_family: 'Test' } };
      },
    });
    await w.ready();
    const response = await post(url, { id: 12345678901234567890n, expiration: inMs(5000) });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ status: 'ACCEPTED' });
    const [answer] = await lb.waitForAnswers(1);
    // The id beyond 2^53 survived Redis exactly, and so did the bigint bid.
    expect(scanned).toEqual(['12345678901234567890']);
    expect(answer!.raw.toString()).toMatch(/^\{"verdict":"malicious","bid":1000000000000000000,/);
    await until(() => w.stats().answered === 1, 'the worker to count its answer');
    expect(engine.stats()).toMatchObject({ accepted: 1, duplicates: 0 });
  });

  it('duplicate deliveries make one job and one answer: same delivery id, same id+phase, and after the job is done', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const { engine, url } = await web();
    let scans = 0;
    const w = worker({
      scan: async () => {
        scans++;
        await work(100);
        return { verdict: 'benign' };
      },
    });
    await w.ready();
    const expiration = inMs(6000);
    // Racing copies of one delivery, then a copy under another delivery id of a different bounty.
    const first = await Promise.all([1, 2, 3].map(() => post(url, { id: 1, expiration }, 'delivery-a')));
    expect(first.map((r) => r.status)).toEqual([202, 202, 202]);
    // No delivery id: (id, phase) is the key; the same id in another phase is another bounty.
    expect((await post(url, { id: 2, expiration })).status).toBe(202);
    expect((await post(url, { id: 2, expiration })).status).toBe(202);
    expect((await post(url, { id: 2, expiration, phase: 'arbitration' })).status).toBe(202);
    await lb.waitForAnswers(3);
    await until(() => w.stats().answered === 3, 'three answers');
    // Once answered (and its job completed), a late copy is still a duplicate.
    expect((await post(url, { id: 1, expiration }, 'delivery-a')).status).toBe(202);
    await holds(() => lb.answers.length === 3 && scans === 3, 'three answers and three scans, no more', 500);
    expect(lb.answers).toHaveLength(3);
    expect(scans).toBe(3);
    expect(engine.stats()).toMatchObject({ accepted: 3, duplicates: 4 });
  });

  it('a job no worker starts by its scan deadline: the web process answers it unknown once, before the expiration; a later worker does not scan it', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const { url } = await web();
    // No worker runs; the scan deadline is the expiration minus the default 2 s margin, so in about 1 s.
    const expiration = Date.now() + 3000;
    expect((await post(url, { id: 77, expiration: new Date(expiration).toISOString() })).status).toBe(202);
    const [answer] = await lb.waitForAnswers(1);
    expect(answer!.at).toBeLessThan(expiration);
    expect(answer!.json).toMatchObject({ verdict: 'unknown', bid: 0, metadata: { comments: ['SKIPPED:TIMEOUT'] } });
    const queue = new Queue(DEFAULT_QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port } });
    cleanups.push(() => queue.close());
    // Answered and removed: nothing waits for a worker, and the budget is free again.
    await eventually(async () => (await queue.getJobCounts('waiting')).waiting === 0, 'the answered job to leave the queue');
    expect(await admin.zcard(`${DEFAULT_QUEUE_NAME}:budget:held`)).toBe(0);
    let scans = 0;
    const w = worker({
      scan: () => {
        scans++;
        return { verdict: 'benign' };
      },
    });
    await w.ready();
    await holds(() => scans === 0 && lb.attempts.length === 1, 'no scan and no second answer', 300);
    expect(scans).toBe(0);
    expect(lb.attempts).toHaveLength(1);
  });

  it('a job a worker holds past the web’s deadline is the worker’s to answer: the watchdog leaves a locked job alone', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const { logger, lines } = memoryLogger();
    // The web's scan deadline is 2 s before the expiration; the worker's (margin 200 ms) later, so its scan runs on.
    const { url } = await web(logger);
    const w = worker({
      scan: async () => {
        await work(1500);
        return { verdict: 'benign' };
      },
    });
    await w.ready();
    const expiration = Date.now() + 3000;
    expect((await post(url, { id: 79, expiration: new Date(expiration).toISOString() })).status).toBe(202);
    const [answer] = await lb.waitForAnswers(1);
    expect(answer!.json).toMatchObject({ verdict: 'benign' });
    expect(answer!.at).toBeLessThan(expiration);
    await until(() => w.stats().answered === 1, 'the worker to count its answer');
    await holds(() => lb.attempts.length === 1, 'one answer attempt, no second', 300);
    expect(lb.attempts).toHaveLength(1);
    expect(lines.some((l) => l.msg === 'bounty reached its scan deadline in the queue')).toBe(false);
  });

  it('an expired job (stored behind the web process’s back) answers nothing and leaves the queue', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const parsed = parseBountyBody(bountyBody({ id: 78, response_url: `${lb.origin}/answer`, expiration: inMs(-1000) }));
    if (!parsed.ok) throw new Error('fixture bounty invalid');
    const queue = new Queue(DEFAULT_QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port } });
    cleanups.push(() => queue.close());
    const key = jobKey(parsed.value);
    await queue.add('bounty', encodeJob({ key, deliveryId: null, bounty: parsed.value, receivedAt: Date.now() }), { jobId: jobIdFor(key) });
    const { logger, lines } = memoryLogger();
    let scans = 0;
    const w = worker(
      {
        scan: () => {
          scans++;
          return { verdict: 'benign' };
        },
      },
      { logger },
    );
    await w.ready();
    await until(() => w.stats().expired === 1, 'the worker to drop the expired job');
    await until(() => lines.some((l) => /expired in the queue/.test(String(l.msg))), 'the expired log line');
    // Completed (nothing to answer), so neither waiting, nor held, nor failed.
    let counts: Record<string, number> = {};
    await eventually(async () => {
      counts = await queue.getJobCounts('waiting', 'active', 'failed');
      return counts.active === 0;
    }, 'the expired job to leave the active list');
    expect(counts).toEqual({ waiting: 0, active: 0, failed: 0 });
    await holds(() => scans === 0 && lb.attempts.length === 0, 'no scan and no answer', 300);
    expect(scans).toBe(0);
    expect(lb.attempts).toHaveLength(0);
  });

  it('finished jobs are trimmed: Redis keeps the newest `keepCompleted` and nothing else of the others', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const { url } = await web(undefined, 3);
    const w = worker({ scan: () => ({ verdict: 'benign' }) }, { concurrency: 1 });
    await w.ready();
    for (let id = 1; id <= 10; id++) expect((await post(url, { id, expiration: inMs(8000) })).status).toBe(202);
    await lb.waitForAnswers(10);
    const queue = new Queue(DEFAULT_QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port } });
    cleanups.push(() => queue.close());
    await eventually(async () => (await queue.getJobCounts('completed')).completed === 3, '3 completed jobs kept');
    const jobHashes = (await admin.keys(`bull:${DEFAULT_QUEUE_NAME}:bounty-*`)).filter((k) => /bounty-[0-9a-f]{64}$/.test(k));
    expect(jobHashes).toHaveLength(3);
    // The guard keys of all ten stay, but each expires with its bounty.
    const posted = await admin.keys(`${DEFAULT_QUEUE_NAME}:posted:*`);
    expect(posted).toHaveLength(10);
    for (const key of posted) expect(await admin.pttl(key)).toBeGreaterThan(0);
    const seen = await admin.keys(`${DEFAULT_QUEUE_NAME}:seen:*`);
    expect(seen).toHaveLength(10);
    for (const key of seen) expect(await admin.pttl(key)).toBeGreaterThan(0);
  });

  it('the post-once guard: a job re-run after a successful post neither scans nor posts again', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const { url } = await web();
    const { logger, lines } = memoryLogger();
    let scans = 0;
    const w = worker(
      {
        scan: () => {
          scans++;
          return { verdict: 'benign' };
        },
      },
      { logger },
    );
    await w.ready();
    const body = bountyBody({ id: 9, response_url: `${lb.origin}/answer`, expiration: inMs(6000) });
    expect((await post(url, { id: 9, expiration: JSON.parse(body).expiration })).status).toBe(202);
    await lb.waitForAnswers(1);
    // Re-add the same job behind the web's back (as a stalled-job recovery or a trimmed job would re-run it).
    const queue = new Queue(DEFAULT_QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port } });
    cleanups.push(() => queue.close());
    const parsed = parseBountyBody(body);
    if (!parsed.ok) throw new Error('fixture bounty invalid');
    const key = jobKey(parsed.value);
    await until(() => w.stats().answered === 1, 'the first answer counted');
    await queue.remove(jobIdFor(key));
    await queue.add('bounty', encodeJob({ key, deliveryId: null, bounty: parsed.value, receivedAt: Date.now() }), { jobId: jobIdFor(key) });
    await until(() => lines.some((l) => l.msg === 'already answered; not scanning again'), 'the re-run to be skipped', 15_000);
    expect(scans).toBe(1);
    expect(lb.attempts).toHaveLength(1);
  });

  it('Redis down: 503 with Retry-After and the reason, GET / reports it, the log says it; back up: 202 again', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const { logger, lines } = memoryLogger();
    const { url } = await web(logger);
    expect((await fetch(url)).status).toBe(200);
    await redis.stop({ save: true });
    try {
      const refused = await post(url, { id: 500, expiration: inMs(8000) });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      // Neither the 503 nor GET / (which anyone may call) tells the URL or Redis's own words; the log does.
      expect((await refused.json()) as object).toEqual({ error: 'Queue unavailable: the shared queue is unreachable' });
      const health = await fetch(url);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({ status: 'UNAVAILABLE', detail: 'the shared queue is unreachable' });
      expect(lines.some((l) => l.msg === 'redis unavailable' && l.role === 'web')).toBe(true);
      expect(
        lines.some((l) => l.msg === 'could not store a bounty in Redis' && /^redis:\/\/127\.0\.0\.1:\d+\/0$/.test(String(l.queue))),
      ).toBe(true);
    } finally {
      await redis.start();
    }
    await until(() => lines.some((l) => l.msg === 'redis reconnected'), 'the web to reconnect', 10_000);
    expect((await fetch(url)).status).toBe(200);
    expect((await post(url, { id: 500, expiration: inMs(8000) })).status).toBe(202);
    const w = worker({ scan: () => ({ verdict: 'benign' }) });
    await w.ready();
    await lb.waitForAnswers(1);
  });

  it('Redis reconfigured to evict while the web runs: found at the reconnection, bounties refused with 503 until it is fixed', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const { logger, lines } = memoryLogger();
    const { url } = await web(logger);
    // Drops the web's connections, as a Redis failover or restart would; it reconnects and reads the policy again.
    const reconnect = async () => {
      const clients = (await admin.client('LIST')) as string;
      for (const line of clients.split('\n').filter((l) => /name=polyswarm-engine-web:/.test(l))) {
        await admin.client('KILL', 'ID', /\bid=(\d+)/.exec(line)![1]!);
      }
      const before = lines.filter((l) => l.msg === 'redis reconnected').length;
      await until(() => lines.filter((l) => l.msg === 'redis reconnected').length > before, 'the web to reconnect');
    };
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      await reconnect();
      await until(() => lines.some((l) => l.msg === 'refusing bounties: Redis would evict them'), 'the refusal in the log');
      const refused = await post(url, { id: 600, expiration: inMs(8000) });
      expect(refused.status).toBe(503);
      expect(await refused.json()).toEqual({
        error: 'Queue unavailable: the shared queue’s Redis would evict bounties (maxmemory-policy)',
      });
      const health = await fetch(url);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({
        status: 'UNAVAILABLE',
        detail: 'the shared queue’s Redis would evict bounties (maxmemory-policy)',
      });
    } finally {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
    }
    await reconnect();
    await until(() => lines.some((l) => l.msg === 'Redis no longer evicts keys; taking bounties again'), 'the recovery in the log');
    expect((await post(url, { id: 600, expiration: inMs(8000) })).status).toBe(202);
  });

  it('a hung Redis (frozen, connections open) does not hold webhooks: 503 within the command timeout', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const { url } = await web();
    redis.freeze();
    try {
      const started = Date.now();
      const response = await post(url, { id: 501, expiration: inMs(8000) });
      const took = Date.now() - started;
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ error: 'Queue unavailable: the shared queue is unreachable' });
      // The producer's command timeout is 2 s: the sender gets its 503 then, not after its own timeout.
      expect(took).toBeGreaterThanOrEqual(1900);
      expect(took).toBeLessThan(4000);
    } finally {
      redis.thaw();
    }
  });

  it('a web process with its own consumer (--with-worker) scans from Redis, posting through the guard', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const queue = new RedisQueue({ role: 'web+worker', url: redis.url, concurrency: 2, lockDurationMs: 2000, deadlineMarginMs: 200 });
    const engine = createEngine({ secret: SECRET, module: { scan: () => ({ verdict: 'suspicious' }) }, queue, deliveryMarginMs: 200 });
    cleanups.push(() => engine.close({ graceMs: 0 }));
    await queue.ready(5000);
    const w = webhook(bountyBody({ id: 31, response_url: `${lb.origin}/answer`, expiration: inMs(5000) }));
    const response = await engine.fetch(new Request('http://engine.test/', { method: 'POST', headers: w.headers, body: w.body }));
    expect(response.status).toBe(202);
    const [answer] = await lb.waitForAnswers(1);
    expect(answer!.json).toMatchObject({ verdict: 'suspicious', bid: 0 });
    await until(() => engine.stats().answered === 1, 'the engine to count its answer');
    // The guard recorded the post: a re-run would not post again.
    const posted = await admin.keys(`${DEFAULT_QUEUE_NAME}:posted:*`);
    expect(posted).toHaveLength(1);
    expect(await admin.get(posted[0]!)).toBe('posted');
  });

  it('a job BullMQ gives up on (here: marked as stalled too often) is still answered unknown with the reason', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    // Stored while nothing consumes, then marked the way BullMQ's stalled-job check marks a job that killed its
    // workers too often (a deferred failure, applied by the next worker that takes it).
    const { url } = await web();
    expect((await post(url, { id: 66, expiration: inMs(8000) })).status).toBe(202);
    const [jobKey] = (await admin.keys(`bull:${DEFAULT_QUEUE_NAME}:bounty-*`)).filter((k) => /bounty-[0-9a-f]{64}$/.test(k));
    await admin.hset(jobKey!, 'defa', 'job stalled more than allowable limit');
    let scans = 0;
    const queue = new RedisQueue({ role: 'web+worker', url: redis.url, concurrency: 1, lockDurationMs: 2000 });
    const engine = createEngine({
      secret: SECRET,
      module: {
        scan: () => {
          scans++;
          return { verdict: 'benign' };
        },
      },
      queue,
    });
    cleanups.push(() => engine.close({ graceMs: 0 }));
    const [answer] = await lb.waitForAnswers(1);
    expect(answer!.json).toMatchObject({
      verdict: 'unknown',
      bid: 0,
      metadata: { comments: ['ERROR:gave up on this bounty: job stalled more than allowable limit'] },
    });
    expect(scans).toBe(0);
    await holds(() => lb.attempts.length === 1, 'one answer attempt, no second', 300);
    expect(lb.attempts).toHaveLength(1);
  });

  it('a web process that also scans answers a job BullMQ gave up on once, and metrics, the inspector and the recorder see it', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const dir = mkdtempSync(join(tmpdir(), 'pse-gaveup-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const metrics = createPrometheusMetrics({ defaultMetrics: false });
    const inspector = new Inspector({ secret: SECRET, maxBytes: 1024 * 1024, maxBodyBytes: 64 * 1024 });
    const recorder = createRecorder({
      file: join(dir, 'web.jsonl'),
      maxBytes: 1024 * 1024,
      maxBodyBytes: 64 * 1024,
      logger: createLogger({ level: 'silent' }),
    });
    // One scan slot, held by a first bounty until the test lets go: the second waits in Redis meanwhile.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const queue = new RedisQueue({ role: 'web+worker', url: redis.url, concurrency: 1, lockDurationMs: 2000 });
    const engine = createEngine({
      secret: SECRET,
      module: {
        scan: async (bounty) => {
          if (bounty.id === '70') await held;
          return { verdict: bounty.id === '70' ? 'benign' : 'malicious' };
        },
      },
      queue,
      observer: combineObservers([metrics.observer, inspector.tracker, recorder.observer]),
    });
    cleanups.push(async () => {
      release();
      await engine.close({ graceMs: 0 });
      recorder.close();
    });
    await queue.ready(5000);
    const listener = await engine.listen({ port: 0 });
    expect((await post(listener.url, { id: 70, expiration: inMs(15_000) })).status).toBe(202);
    await until(() => engine.stats().running === 1, 'the first bounty to hold the scan slot');
    expect((await post(listener.url, { id: 71, expiration: inMs(15_000) })).status).toBe(202);
    // Marked the way BullMQ's stalled-job check marks a job that killed its workers too often: the next take fails it.
    const id = jobIdFor(jobKey({ id: '71', phase: 'assertion' }));
    await admin.hset(`bull:${DEFAULT_QUEUE_NAME}:${id}`, 'defa', 'job stalled more than allowable limit');
    release();
    const answers = await lb.waitForAnswers(2);
    const gaveUp = answers.map((a) => a.json).find((json) => (json as { verdict: string }).verdict === 'unknown');
    expect(gaveUp).toMatchObject({
      bid: 0,
      metadata: { comments: ['ERROR:gave up on this bounty: job stalled more than allowable limit'] },
    });
    // Counted by the engine and the metrics like any answer.
    await until(() => engine.stats().answered === 2, 'both answers counted');
    const scraped = await metrics.registry.getSingleMetricAsString('polyswarm_engine_answers_total');
    expect(scraped).toMatch(/polyswarm_engine_answers_total\{[^}]*verdict="unknown"[^}]*\} 1/);
    // Shown by the inspector, on the bounty's own transaction.
    const shown = inspector.history.list().find((tx) => tx.bounty === '71');
    expect(shown?.answer).toMatchObject({
      verdict: 'unknown',
      delivered: true,
      comments: ['ERROR:gave up on this bounty: job stalled more than allowable limit'],
    });
    // Written by the recorder.
    await until(() => readFileSync(join(dir, 'web.jsonl'), 'utf8').includes('gave up on this bounty'), 'the recorder to write the answer');
    const line = readFileSync(join(dir, 'web.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { bounty?: string; answer?: { verdict: string } })
      .find((tx) => tx.bounty === '71');
    expect(line?.answer?.verdict).toBe('unknown');
    // Answered once.
    await holds(() => lb!.attempts.length === 2, 'two answer posts, no third', 300);
  });

  it('a worker: a receiver that hangs holds no scan slot; its answers are kept in Redis while they are posted, the healthy ones go out', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    // Accepts every answer POST and never replies (until the test ends).
    const hung = new Set<import('node:http').ServerResponse>();
    const hanging = createServer((_req, res) => void hung.add(res));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const res of hung) res.destroy();
          hanging.closeAllConnections();
          hanging.close(() => resolve());
        }),
    );
    const hangingUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/answer`;
    const { url } = await web();
    const w = worker({ scan: (bounty) => ({ verdict: String(bounty.id).startsWith('9') ? 'malicious' : 'benign' }) }, { concurrency: 1 });
    await w.ready();
    for (let i = 0; i < 10; i++)
      expect((await post(url, { id: 100 + i, response_url: hangingUrl, expiration: inMs(12_000) })).status).toBe(202);
    await until(() => hung.size >= 8, 'the answers to the hanging receiver to be posting', 10_000);
    // Kept in Redis while they are posted: a worker that died now would leave them to the deadline watchdog.
    expect((await admin.keys(`${DEFAULT_QUEUE_NAME}:answer:*`)).length).toBeGreaterThanOrEqual(8);
    const expiresAt = Date.now() + 8000;
    for (let i = 0; i < 20; i++) expect((await post(url, { id: 900 + i, expiration: new Date(expiresAt).toISOString() })).status).toBe(202);
    const answers = await lb.waitForAnswers(20, { timeoutMs: 7000 });
    expect(answers.map((a) => (a.json as { verdict: string }).verdict)).toEqual(Array(20).fill('malicious'));
    for (const a of answers) expect(a.at).toBeLessThan(expiresAt);
  });

  it('closing a worker: a scan past the grace period is handed back to the queue and another worker answers it once', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    const { url } = await web();
    const { logger, lines } = memoryLogger();
    const slow = createRedisWorker({
      queue: redis.url,
      module: { scan: (_b, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))) },
      concurrency: 1,
      lockDurationMs: 2000,
      logger,
    });
    cleanups.push(() => slow.close({ graceMs: 0 }));
    await slow.ready();
    expect((await post(url, { id: 55, expiration: inMs(8000) })).status).toBe(202);
    await until(() => slow.stats().busy === 1, 'the slow worker to take the job');
    const closing = Date.now();
    await slow.close({ graceMs: 200 });
    expect(Date.now() - closing).toBeLessThan(2000);
    expect(lines.some((l) => l.msg === 'job handed back to the queue' && l.bounty === '55')).toBe(true);
    expect(slow.stats()).toMatchObject({ busy: 0, answered: 0, answerFailed: 0, retained: 1 });
    // The aborted scan's SKIPPED:SHUTDOWN answer was refused: nothing was posted by the slow worker.
    expect(lb.attempts).toHaveLength(0);
    const next = worker({ scan: () => ({ verdict: 'benign' }) });
    await next.ready();
    const [answer] = await lb.waitForAnswers(1);
    expect(answer!.json).toMatchObject({ verdict: 'benign' });
    await holds(() => lb.attempts.length === 1, 'one answer attempt, no second', 300);
    expect(lb.attempts).toHaveLength(1);
  });

  it('job data round-trips exactly (bigints, naive expiration, v0 names) and junk is refused with a reason', () => {
    const parsed = parseBountyBody(
      '{"guid":"abc","artifact_type":"FILE","artifact_url":"http://127.0.0.1:9/a","sha256":"asdf","mimetype":"text/plain","expiration":"2031-02-19T10:13:47.036","phase":"assertion","response_url":"http://127.0.0.1:9/r","rules":{"min_allowed_bid":62500000000000000,"max_allowed_bid":99999999999999999999999}}',
    );
    if (!parsed.ok) throw new Error('fixture invalid');
    const job = { key: 'k:1', deliveryId: 'k:1', bounty: parsed.value, receivedAt: 1 };
    expect(decodeJob(JSON.parse(JSON.stringify(encodeJob(job))))).toEqual(job);
    expect(() => decodeJob({ v: 2 })).toThrow('not a polyswarm-engine job (no v: 1)');
    expect(() => decodeJob({ v: 1, key: 'k', receivedAt: 1, bounty: '{"id":1}' })).toThrow(/^job bounty is invalid: /);
    expect(jobIdFor('a:b')).toMatch(/^bounty-[0-9a-f]{64}$/);
  });

  it('queue URLs: what is accepted, and a precise message for what is not', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6380/2')).toMatchObject({
      display: 'redis://127.0.0.1:6380/2',
      options: { host: '127.0.0.1', port: 6380, db: 2 },
    });
    expect(parseRedisUrl('redis://localhost')).toMatchObject({ display: 'redis://localhost/0', options: { port: 6379, db: 0 } });
    expect(parseRedisUrl('rediss://user:p%40ss@cache.example:6390/1')).toMatchObject({
      display: 'rediss://user:***@cache.example:6390/1',
      options: { username: 'user', password: 'p@ss', tls: {} },
    });
    expect(() => parseRedisUrl('localhost:6379')).toThrow(
      expect.objectContaining({ message: 'Queue URL "localhost:6379" has no scheme', code: 'QUEUE_URL_INVALID' }),
    );
    // The library gives the code and the suggestion; the CLI says it in terms of its flags.
    const noScheme = (() => {
      try {
        parseRedisUrl('localhost:6379');
      } catch (error) {
        return toCliError(error) as CliError;
      }
    })();
    expect(noScheme).toMatchObject({ exitCode: 2, hint: 'Did you mean redis://localhost:6379?' });
    expect(
      toCliError(
        (() => {
          try {
            parseRedisUrl('redis://');
          } catch (e) {
            return e;
          }
        })(),
      ),
    ).toMatchObject({ hint: expect.stringContaining('--queue redis://host:port') });
    expect(() => parseRedisUrl('http://127.0.0.1:6379')).toThrow(
      'Queue URL "http://127.0.0.1:6379": http:// is not supported, only redis:// and rediss://',
    );
    expect(() => parseRedisUrl('redis://127.0.0.1:6379/cache')).toThrow(
      'Queue URL "redis://127.0.0.1:6379/cache": the database "cache" is not a number',
    );
    expect(() => parseRedisUrl('redis://[::1')).toThrow('Queue URL "redis://[::1" is not a URL');
    expect(() => parseRedisUrl('not a url')).toThrow('Queue URL "not a url" has no scheme');
    expect(() => parseRedisUrl('redis://127.0.0.1:6379/0?queue=x')).toThrow('query strings and fragments are not supported');
    // A password is never echoed back, even in the message about a bad URL.
    expect(() => parseRedisUrl('redis://app:hunter2@127.0.0.1:6379/cache')).toThrow(
      'Queue URL "redis://app:***@127.0.0.1:6379/cache": the database "cache" is not a number',
    );
  });
});
