/**
 * The shared queue: BullMQ on Redis, so one web process can accept bounties and any number of worker processes,
 * on any number of machines, can scan them. It implements the same `BountyQueue` interface as the embedded queue.
 *
 * Guarantees, and how:
 * - A 202 only for a stored bounty: the web's Redis connection fails fast (no offline queue, short command
 *   timeout), so `enqueue` rejects with QueueUnavailableError (→ 503 + Retry-After) rather than waiting.
 * - One job per delivery: the BullMQ job id is derived from the dedup key, and a "seen" key (kept until the
 *   bounty's expiration) tells a duplicate apart even after its job was trimmed.
 * - At-least-once processing: a short job lock; a worker that dies (SIGKILL) stops renewing it and BullMQ's
 *   stalled-job check hands the job to another worker.
 * - The answer posted once: a "posted" key per job guards the POST, so a job re-run after a successful post
 *   does not post again (see PostOnceGuard for the trade-off).
 * - Bounded Redis: completed and failed jobs are trimmed by count and age; guard keys expire with the bounty.
 */
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Queue, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { buildAnswer, errorComment, serializeAnswer, unknownResult } from '../protocol/answer.js';
import { bountyToWire, parseBounty } from '../protocol/bounty.js';
import { parseJson, stringifyJson } from '../protocol/json.js';
import { parseDuration } from '../util/duration.js';
import { errorMessage, UsageError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/logger.js';
import { deliverAnswer, type DeliverFunction, type DeliveryResult } from './deliver.js';
import { QueueUnavailableError, type BountyJob, type BountyQueue, type EnqueueOutcome, type JobProcessor } from './queue.js';

/** The BullMQ queue name; every web process and worker of one engine must use the same. */
export const DEFAULT_QUEUE_NAME = 'polyswarm-bounties';
/** Default job lock: a dead worker's job is handed to another one within about 1.5× this. */
export const DEFAULT_LOCK_DURATION_MS = 10_000;

/** Completed jobs carry nothing we need (the answer went out; the log has the rest): keep few, for an hour. */
const KEEP_COMPLETED = 1000;
const KEEP_COMPLETED_S = 3600;
/** Failed jobs are worth a look: keep more, for a week, still bounded. */
const KEEP_FAILED = 5000;
const KEEP_FAILED_S = 7 * 24 * 3600;

/** BullMQ's trimming options: at most `count` finished jobs, none older than `age` seconds. */
function keep(count: number, age: number): { count: number; age: number } {
  return { count, age };
}
/** Guard keys outlive the expiration a little, so a late duplicate still finds them. */
const GUARD_SLACK_MS = 60_000;
const POSTED = 'posted';

/** Where the queue lives: ioredis options from a `redis://` URL, and a display form without the password. */
export interface RedisTarget {
  /** The URL with any password masked, for logs and messages. */
  display: string;
  options: RedisOptions;
}

const URL_HINT = 'Use --queue redis://host:port[/db] (or set POLYSWARM_QUEUE_URL), e.g. redis://127.0.0.1:6379/0.';

/**
 * Parses `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS). Throws a UsageError that says what
 * is wrong with the value.
 */
export function parseRedisUrl(value: string): RedisTarget {
  // Messages quote the value, but never a password in it.
  const shown = JSON.stringify(value.trim().replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@'));
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) {
    throw new UsageError(`Queue URL ${shown} has no scheme`, {
      hint: /^[\w.-]+(:\d+)?(\/\d+)?$/.test(value.trim()) ? `Did you mean redis://${value.trim()}?` : URL_HINT,
    });
  }
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new UsageError(`Queue URL ${shown} is not a URL`, { hint: URL_HINT });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(`Queue URL ${shown}: ${url.protocol}// is not supported, only redis:// and rediss://`, {
      hint: URL_HINT,
    });
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new UsageError(`Queue URL ${shown} has no host`, { hint: URL_HINT });
  const port = url.port === '' ? 6379 : Number(url.port);
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,5}$/.test(path)) {
    throw new UsageError(`Queue URL ${shown}: the database ${JSON.stringify(path)} is not a number`, { hint: URL_HINT });
  }
  const db = path === '' ? 0 : Number(path);
  if (url.search !== '' || url.hash !== '') {
    throw new UsageError(`Queue URL ${shown}: query strings and fragments are not supported`, { hint: URL_HINT });
  }
  const options: RedisOptions = { host, port, db };
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') options.tls = {};
  const auth = url.username || url.password ? `${url.username}${url.password ? ':***' : ''}@` : '';
  return { display: `${url.protocol}//${auth}${url.host}/${db}`, options };
}

/**
 * The job lock from `POLYSWARM_LOCK_DURATION` (e.g. `5s`), for `worker` and `start --with-worker`; unset or empty
 * gives the default. Throws a UsageError naming the variable for a value that is not a duration or under 1 s.
 */
export function parseLockDuration(value: string | undefined, name = 'POLYSWARM_LOCK_DURATION'): number {
  if (value === undefined || value.trim() === '') return DEFAULT_LOCK_DURATION_MS;
  const ms = parseDuration(value, name);
  if (ms < 1000) throw new UsageError(`${name}: ${value} is too short; the minimum is 1s`, { hint: 'A few seconds suits most engines, e.g. 5s.' });
  return ms;
}

/**
 * The BullMQ job id for a dedup key. BullMQ ids must not contain ':' and must not look like integers, and a
 * delivery id is arbitrary text, so it is hashed.
 */
export function jobIdFor(key: string): string {
  return `bounty-${createHash('sha256').update(key).digest('hex')}`;
}

/** A job as stored in Redis. The bounty is wire JSON text, so bigint bids and exact ids survive. */
interface StoredJob {
  v: 1;
  key: string;
  deliveryId: string | null;
  bounty: string;
  receivedAt: number;
  /** The expiration in ms, readable without parsing the bounty (e.g. by an operator inspecting Redis). */
  expiresAt: number;
}

/** Serialises a job for Redis. */
export function encodeJob(job: BountyJob): StoredJob {
  return {
    v: 1,
    key: job.key,
    deliveryId: job.deliveryId,
    bounty: stringifyJson(bountyToWire(job.bounty)),
    receivedAt: job.receivedAt,
    expiresAt: job.bounty.expiration.getTime(),
  };
}

/** Reads a job back from Redis; throws when it is not one we wrote (the message says why). */
export function decodeJob(data: unknown): BountyJob {
  const stored = data as Partial<StoredJob> | null;
  if (!stored || typeof stored !== 'object' || stored.v !== 1) throw new Error('not a polyswarm-engine job (no v: 1)');
  if (typeof stored.key !== 'string' || typeof stored.bounty !== 'string' || typeof stored.receivedAt !== 'number') {
    throw new Error('job data lacks key, bounty or receivedAt');
  }
  const json = parseJson(stored.bounty);
  if (!json.ok) throw new Error(`job bounty is not JSON: ${json.error}`);
  const parsed = parseBounty(json.value);
  if (!parsed.ok) throw new Error(`job bounty is invalid: ${parsed.errors.map((e) => `${e.path || '/'} ${e.message}`).join('; ')}`);
  return { key: stored.key, deliveryId: stored.deliveryId ?? null, bounty: parsed.value, receivedAt: stored.receivedAt };
}

/** Reconnect quickly (Redis restarts are short) but never give up: ioredis retries for as long as we return a number. */
const retryStrategy = (times: number) => Math.min(times * 100, 1000);

/** Errors that only say the connection is down; the connection watcher logs those once, not once per retry. */
function isConnectionError(error: unknown): boolean {
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|Connection is closed|Stream isn't writeable|Command timed out|connect ETIMEDOUT/i.test(
    errorMessage(error),
  );
}

/** Logs a connection's ups and downs once per change, and remembers the last error for health checks. */
function watchConnection(redis: Redis, target: RedisTarget, logger: Logger, role: string): { lastError(): string | null } {
  let lastError: string | null = null;
  let wasReady = false;
  let reportedDown = false;
  redis.on('ready', () => {
    if (reportedDown || wasReady) logger.info('redis reconnected', { queue: target.display, role });
    wasReady = true;
    reportedDown = false;
    lastError = null;
  });
  redis.on('error', (error: unknown) => {
    lastError = errorMessage(error);
    if (!reportedDown) logger.error('redis unavailable', { queue: target.display, role, error: lastError });
    reportedDown = true;
  });
  redis.on('close', () => {
    if (wasReady && !reportedDown && redis.status !== 'end') {
      lastError = 'connection closed';
      logger.error('redis unavailable', { queue: target.display, role, error: lastError });
      reportedDown = true;
    }
  });
  return { lastError: () => lastError };
}

/**
 * The web process's connection: no offline queue, one retry and a short command timeout, so a down (or hung)
 * Redis makes `enqueue` fail within about `commandTimeoutMs` instead of holding the webhook request.
 */
function producerConnection(target: RedisTarget, commandTimeoutMs: number): Redis {
  return new Redis({
    ...target.options,
    connectionName: `polyswarm-engine-web:${hostname()}:${process.pid}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: commandTimeoutMs,
    // How long a socket that never connected may keep the process alive once we disconnect (ioredis: 2 s).
    disconnectTimeout: 200,
    retryStrategy,
  });
}

/** A worker's connection: BullMQ needs one that waits out an outage (maxRetriesPerRequest null) rather than failing. */
function consumerConnection(target: RedisTarget): Redis {
  return new Redis({
    ...target.options,
    connectionName: `polyswarm-engine-worker:${hostname()}:${process.pid}`,
    maxRetriesPerRequest: null,
    connectTimeout: 5000,
    disconnectTimeout: 200,
    retryStrategy,
  });
}

/**
 * QUIT when connected (lets pending replies arrive), else just disconnect: a command sent while down would fail at
 * once yet leave its command-timeout timer holding the process open.
 */
async function closeConnection(redis: Redis): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}

const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
const RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/**
 * Guards the answer POST so that it happens once per job, across re-runs and workers.
 *
 * The trade-off: HTTP gives no exactly-once, so we choose where the gap is. Before posting, a worker claims
 * `posted:<job>` with a short lease (renewed while the post and its retries run); after a 2xx the key becomes
 * `posted` until the expiration; after a definitive failure the claim is released so a re-run may try again.
 * - A job re-run after a successful post (a stalled job whose worker did post, a duplicate re-added after trimming)
 *   finds `posted` and does not post again.
 * - A worker killed between claiming and finishing the post leaves only a lease, which expires in seconds: the
 *   re-run then posts. If the killed worker's request had already reached the receiver, that receiver sees the
 *   answer twice. We accept that (a window of one HTTP round trip) rather than the alternative, a claim held to
 *   the expiration, which would leave such a bounty unanswered: PolySwarm counts a missing answer as a failure.
 */
export class PostOnceGuard {
  readonly #redis: Redis;
  readonly #namespace: string;
  readonly #leaseMs: number;
  readonly #inner: DeliverFunction;
  readonly #logger: Logger;

  constructor(redis: Redis, options: { namespace: string; leaseMs: number; deliver?: DeliverFunction; logger: Logger }) {
    this.#redis = redis;
    this.#namespace = options.namespace;
    this.#leaseMs = options.leaseMs;
    this.#inner = options.deliver ?? deliverAnswer;
    this.#logger = options.logger;
  }

  #key(jobKey: string): string {
    return `${this.#namespace}:posted:${jobIdFor(jobKey)}`;
  }

  /** Whether an answer for this job was already posted successfully (so a re-run need not even scan). */
  async posted(jobKey: string): Promise<boolean> {
    return (await this.#redis.get(this.#key(jobKey))) === POSTED;
  }

  /** deliverAnswer behind the guard; never throws for a guard problem other than Redis itself failing. */
  readonly deliver: DeliverFunction = async (request, options) => {
    const key = this.#key(request.key);
    const token = `${hostname()}:${process.pid}:${randomUUID()}`;
    const claimed = await this.#redis.set(key, token, 'PX', this.#leaseMs, 'NX');
    if (claimed !== 'OK') {
      const holder = await this.#redis.get(key).catch(() => null);
      return {
        ok: false,
        status: null,
        attempts: 0,
        error: holder === POSTED ? 'already answered by an earlier run; not posted again' : 'another worker is posting this answer',
      };
    }
    const renew = setInterval(() => {
      this.#redis.eval(RENEW, 1, key, token, String(this.#leaseMs)).catch(() => {});
    }, Math.max(100, Math.floor(this.#leaseMs / 3)));
    renew.unref();
    let result: DeliveryResult;
    try {
      result = await this.#inner(request, options);
    } finally {
      clearInterval(renew);
    }
    if (result.ok) {
      const ttl = Math.max(1, request.expiration.getTime() - Date.now()) + GUARD_SLACK_MS;
      await this.#redis.set(key, POSTED, 'PX', ttl).catch((error: unknown) => {
        this.#logger.warn('could not record the answer as posted; a re-run of this job could post again', {
          bounty: request.bountyId,
          error: errorMessage(error),
        });
      });
    } else {
      await this.#redis.eval(RELEASE, 1, key, token).catch(() => {});
    }
    return result;
  };
}

export interface RedisQueueOptions {
  /** `redis://host:port[/db]` (or a parsed target). */
  url: string | RedisTarget;
  logger?: Logger;
  /** Default DEFAULT_QUEUE_NAME; web processes and workers of one engine share it. */
  queueName?: string;
  /** Scans at a time in this process, when it consumes (default 1). */
  concurrency?: number;
  /**
   * How long a worker's hold on a job lasts without renewal (default 10 s). A killed worker's job goes back to the
   * queue after about 1.5× this, so keep it well under the bounties' time to expiration; too short and a worker
   * whose event loop is blocked by a CPU-bound scan loses its jobs to others (which then do not post twice).
   */
  lockDurationMs?: number;
  /** The web's fail-fast budget for one Redis command (default 2000 ms). */
  commandTimeoutMs?: number;
  /** The underlying POST (default deliverAnswer); the queue puts the post-once guard in front of it. */
  deliver?: DeliverFunction;
  /** Completed jobs kept in Redis (default 1000, and none older than an hour). */
  keepCompleted?: number;
  /** Failed jobs kept in Redis (default 5000, and none older than a week). */
  keepFailed?: number;
}

interface RunningJob {
  phase: 'scanning' | 'delivering';
  handedBack: boolean;
  handBack: () => void;
}

const HANDED_BACK = Symbol('handed back');

/** The consuming half: a BullMQ Worker feeding jobs to a JobProcessor, with hand-back at shutdown. */
class Consumer {
  readonly #redis: Redis;
  readonly #worker: Worker;
  readonly #logger: Logger;
  readonly #guard: PostOnceGuard;
  readonly #running = new Map<string, RunningJob>();
  /** Keys of jobs handed back at shutdown (only filled then), so their refused answers are not counted as failures. */
  readonly #handedBack = new Set<string>();
  readonly #handBack = new AbortController();
  #closing: Promise<void> | undefined;

  constructor(target: RedisTarget, options: Required<Pick<RedisQueueOptions, 'queueName' | 'concurrency' | 'lockDurationMs'>> & {
    keepCompleted?: number;
    keepFailed?: number;
    logger: Logger;
    processor: JobProcessor;
    deliver?: DeliverFunction;
    onGaveUp?: (job: BountyJob, reason: string) => Promise<void>;
  }) {
    this.#logger = options.logger;
    this.#redis = consumerConnection(target);
    watchConnection(this.#redis, target, this.#logger, 'worker');
    this.#guard = new PostOnceGuard(this.#redis, {
      namespace: options.queueName,
      leaseMs: options.lockDurationMs,
      deliver: options.deliver,
      logger: this.#logger,
    });
    const processor = options.processor;
    this.#worker = new Worker(options.queueName, (job, token) => this.#process(job, token, processor), {
      connection: this.#redis,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      // A stalled job is found by the check after its lock expired: check often enough to recover within ~1.5× the lock.
      stalledInterval: Math.max(500, Math.floor(options.lockDurationMs / 2)),
      // A job whose worker died twice is probably what kills workers; give up on it rather than loop.
      maxStalledCount: 2,
      removeOnComplete: keep(options.keepCompleted ?? KEEP_COMPLETED, KEEP_COMPLETED_S),
      removeOnFail: keep(options.keepFailed ?? KEEP_FAILED, KEEP_FAILED_S),
      name: `${hostname()}:${process.pid}`,
    });
    this.#worker.on('error', (error) => {
      // Connection errors are logged once per outage by the connection watcher.
      if (isConnectionError(error)) this.#logger.debug('worker connection error', { error: errorMessage(error) });
      else this.#logger.error('worker error', { error: errorMessage(error) });
    });
    this.#worker.on('failed', (job, error) => {
      if (!job) return;
      // BullMQ sets finishedOn only when it gives up (no retry left, or a job that stalled too often: one whose
      // scan keeps killing its worker). Such a bounty still gets its answer, `unknown`, while unexpired.
      const gaveUp = typeof job.finishedOn === 'number';
      this.#logger.error(gaveUp ? 'job failed for good' : 'job failed; it will be retried', {
        job: job.id,
        attempts: job.attemptsMade,
        error: errorMessage(error),
      });
      if (!gaveUp) return;
      let bountyJob: BountyJob;
      try {
        bountyJob = decodeJob(job.data);
      } catch {
        return;
      }
      (options.onGaveUp ?? this.#answerGaveUp)(bountyJob, errorMessage(error)).catch((failure: unknown) =>
        this.#logger.error('could not answer a failed job', { bounty: bountyJob.bounty.id, error: errorMessage(failure) }),
      );
    });
  }

  /** The default for a job BullMQ gave up on: answer `unknown` (bid 0) with the reason, if still unexpired. */
  readonly #answerGaveUp = async (job: BountyJob, reason: string): Promise<void> => {
    const { bounty } = job;
    if (Date.now() >= bounty.expiration.getTime()) return;
    const comment = errorComment(`gave up on this bounty: ${reason}`);
    const body = serializeAnswer(buildAnswer(bounty, unknownResult(comment), 0n));
    const delivery = await this.deliver({ url: bounty.response_url, body, expiration: bounty.expiration, bountyId: bounty.id, key: job.key });
    this.#logger.info('answer', {
      bounty: bounty.id,
      verdict: 'unknown',
      comment,
      delivery: delivery.ok ? delivery.status : (delivery.error ?? delivery.status),
      attempts: delivery.attempts,
    });
  };

  /** Fires when running scans are handed back at shutdown (pass it to the pipeline as its shutdown signal). */
  get handBackSignal(): AbortSignal {
    return this.#handBack.signal;
  }

  get active(): number {
    return this.#running.size;
  }

  /** Whether the job with this key was handed back to the queue at shutdown. */
  wasHandedBack(key: string): boolean {
    return this.#handedBack.has(key);
  }

  /** Resolves once the worker is connected and taking jobs. */
  ready(): Promise<void> {
    return this.#worker.waitUntilReady().then(() => undefined);
  }

  /** The pipeline's `deliver`: refuses jobs handed back at shutdown, then posts through the guard. */
  readonly deliver: DeliverFunction = async (request, options) => {
    const running = this.#running.get(request.key);
    if (running?.handedBack) {
      return { ok: false, status: null, attempts: 0, error: 'handed back to the queue at shutdown; another worker answers' };
    }
    if (running) running.phase = 'delivering';
    return this.#guard.deliver(request, options);
  };

  async #process(job: Job, token: string | undefined, processor: JobProcessor): Promise<string> {
    let bountyJob: BountyJob;
    try {
      bountyJob = decodeJob(job.data);
    } catch (error) {
      this.#logger.error('dropping an unreadable job', { job: job.id, error: errorMessage(error) });
      throw new UnrecoverableError(`unreadable job: ${errorMessage(error)}`);
    }
    if (await this.#guard.posted(bountyJob.key)) {
      this.#logger.info('already answered; not scanning again', { bounty: bountyJob.bounty.id, job: job.id, attempt: job.attemptsStarted });
      return 'already-answered';
    }
    let resolveHandBack!: (value: typeof HANDED_BACK) => void;
    const handedBack = new Promise<typeof HANDED_BACK>((resolve) => (resolveHandBack = resolve));
    const running: RunningJob = {
      phase: 'scanning',
      handedBack: false,
      handBack: () => {
        running.handedBack = true;
        this.#handedBack.add(bountyJob.key);
        resolveHandBack(HANDED_BACK);
      },
    };
    this.#running.set(bountyJob.key, running);
    try {
      if (this.#handBack.signal.aborted) running.handBack();
      const outcome = await Promise.race([processor(bountyJob).then(() => 'done' as const), handedBack]);
      if (outcome === HANDED_BACK) {
        await job.moveToWait(token);
        this.#logger.info('job handed back to the queue', { bounty: bountyJob.bounty.id, job: job.id });
        // Tells BullMQ the job was moved on purpose: neither completed nor failed.
        throw new WaitingError();
      }
      return 'done';
    } finally {
      this.#running.delete(bountyJob.key);
    }
  }

  /**
   * Stops taking jobs and lets running ones finish; after `graceMs`, jobs still scanning are handed back to the
   * queue for another worker (their scans are aborted and their answers refused), while jobs already posting
   * finish (a post never runs past the bounty's expiration).
   */
  close(graceMs: number): Promise<void> {
    this.#closing ??= (async () => {
      const timer = setTimeout(() => {
        // Mark them first: aborting makes their scans answer SKIPPED:SHUTDOWN, which `deliver` must then refuse.
        for (const running of this.#running.values()) if (running.phase === 'scanning') running.handBack();
        this.#handBack.abort();
      }, Math.max(0, graceMs));
      const closed = this.#worker.close().then(
        () => 'closed' as const,
        (error: unknown) => {
          this.#logger.warn('worker did not close cleanly', { error: errorMessage(error) });
          return 'closed' as const;
        },
      );
      // If Redis is down, BullMQ's close waits for it forever. So stop waiting 2 s after this worker holds no job
      // (finished or handed back), or 10 s after the grace period whatever it holds. Jobs still marked active then
      // go back to the queue when their locks expire (stalled-job recovery).
      const deadline = Date.now() + Math.max(0, graceMs) + 10_000;
      let idleSince: number | undefined;
      let how: 'closed' | 'timeout' = 'timeout';
      for (let done = false; !done; ) {
        const tick = new Promise<'tick'>((resolve) => setTimeout(() => resolve('tick'), 50));
        if ((await Promise.race([closed, tick])) === 'closed') {
          how = 'closed';
          break;
        }
        const now = Date.now();
        idleSince = this.#running.size === 0 ? (idleSince ?? now) : undefined;
        done = now >= deadline || (idleSince !== undefined && now - idleSince >= 2000);
      }
      clearTimeout(timer);
      if (how === 'timeout') {
        this.#logger.warn('gave up waiting for the queue to close (is Redis down?); jobs still held go back to it when their locks expire', {
          held: this.#running.size,
        });
        this.#redis.disconnect();
        return;
      }
      await closeConnection(this.#redis);
    })();
    return this.#closing;
  }
}

/**
 * A BountyQueue on Redis. With a consumer (`consume: true`) it also scans, as the embedded queue does; without
 * one, it only stores jobs for workers (`start --queue` without `--with-worker`).
 */
export class RedisQueue implements BountyQueue {
  readonly #target: RedisTarget;
  readonly #logger: Logger;
  readonly #queueName: string;
  readonly #producer: Redis;
  readonly #producerState: { lastError(): string | null };
  readonly #consumer: Consumer | undefined;
  /** Created on the first successful connection: BullMQ's own start-up waits (or fails for good) otherwise. */
  #queue: Queue | undefined;
  #closed = false;
  readonly #keepCompleted: { count: number; age: number };
  readonly #keepFailed: { count: number; age: number };

  constructor(options: RedisQueueOptions & { processor?: JobProcessor }) {
    this.#target = typeof options.url === 'string' ? parseRedisUrl(options.url) : options.url;
    this.#logger = options.logger ?? createLogger({ level: 'silent' });
    this.#queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
    const lockDurationMs = options.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS;
    this.#keepCompleted = keep(options.keepCompleted ?? KEEP_COMPLETED, KEEP_COMPLETED_S);
    this.#keepFailed = keep(options.keepFailed ?? KEEP_FAILED, KEEP_FAILED_S);
    this.#producer = producerConnection(this.#target, options.commandTimeoutMs ?? 2000);
    this.#producerState = watchConnection(this.#producer, this.#target, this.#logger, 'web');
    this.#producer.once('ready', () => {
      if (this.#closed) return;
      this.#queue = new Queue(this.#queueName, { connection: this.#producer });
      this.#queue.on('error', (error) => {
        if (!isConnectionError(error)) this.#logger.error('queue error', { error: errorMessage(error) });
      });
    });
    this.#consumer = options.processor
      ? new Consumer(this.#target, {
          queueName: this.#queueName,
          concurrency: options.concurrency ?? 1,
          lockDurationMs,
          logger: this.#logger,
          processor: options.processor,
          deliver: options.deliver,
          keepCompleted: options.keepCompleted,
          keepFailed: options.keepFailed,
        })
      : undefined;
  }

  /** The URL with the password masked. */
  get display(): string {
    return this.#target.display;
  }

  /** The consumer's guarded deliver (EngineOptions.deliver), or plain deliverAnswer when this queue does not scan. */
  readonly deliver: DeliverFunction = (request, options) =>
    this.#consumer ? this.#consumer.deliver(request, options) : deliverAnswer(request, options);

  /** Resolves once Redis answered (and the consumer, if any, is taking jobs); rejects after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new QueueUnavailableError(`Redis at ${this.#target.display} did not answer within ${timeoutMs} ms: ${this.#producerState.lastError() ?? 'no connection yet'}`)),
        timeoutMs,
      );
    });
    const connected = new Promise<void>((resolve) => {
      if (this.#producer.status === 'ready') resolve();
      else this.#producer.once('ready', () => resolve());
    });
    try {
      await Promise.race([Promise.all([connected, this.#consumer?.ready()]), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  async enqueue(job: BountyJob): Promise<EnqueueOutcome> {
    if (this.#closed) throw new QueueUnavailableError('the queue is shutting down');
    const queue = this.#queue;
    if (!queue || this.#producer.status !== 'ready') {
      throw new QueueUnavailableError(`Redis at ${this.#target.display} is unreachable${this.#reason()}`);
    }
    const id = jobIdFor(job.key);
    const seen = `${this.#queueName}:seen:${id}`;
    try {
      // Seen before (possibly already done and trimmed): a duplicate, and nothing to add again.
      if ((await this.#producer.exists(seen)) === 1) return 'duplicate';
      // Adding an existing job id is a no-op in BullMQ, so two racing deliveries still make one job.
      await queue.add('bounty', encodeJob(job), {
        jobId: id,
        attempts: 3,
        backoff: { type: 'fixed', delay: 1000 },
        removeOnComplete: this.#keepCompleted,
        removeOnFail: this.#keepFailed,
      });
      // Recorded only once the job is stored, so "seen" never stands for a bounty Redis does not hold. Of two racing
      // deliveries, the one that sets it is 'accepted'.
      const ttl = Math.max(1, job.bounty.expiration.getTime() - Date.now()) + GUARD_SLACK_MS;
      const first = await this.#producer.set(seen, job.deliveryId ?? '1', 'PX', ttl, 'NX');
      return first === 'OK' ? 'accepted' : 'duplicate';
    } catch (error) {
      throw new QueueUnavailableError(`Redis at ${this.#target.display} is unavailable: ${errorMessage(error)}`, { cause: error });
    }
  }

  #reason(): string {
    const error = this.#producerState.lastError();
    return error ? ` (${error})` : '';
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    if (this.#closed) return { ok: false, detail: 'the queue is shutting down' };
    try {
      if (this.#producer.status !== 'ready') throw new Error(this.#producerState.lastError() ?? `connection ${this.#producer.status}`);
      await this.#producer.ping();
      return { ok: true };
    } catch (error) {
      return { ok: false, detail: `Redis at ${this.#target.display} is unreachable: ${errorMessage(error)}` };
    }
  }

  /** This process's share: jobs it is scanning. The backlog itself lives in Redis, shared by every worker. */
  counts(): { waiting: number; active: number } {
    return { waiting: 0, active: this.#consumer?.active ?? 0 };
  }

  /**
   * Stops taking bounties. Waiting jobs stay in Redis for the workers (so `onAbandoned` is never called); this
   * process's running scans finish, or are handed back after `graceMs`.
   */
  async close(options: { graceMs: number; onAbandoned?: (job: BountyJob) => Promise<void> }): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#consumer?.close(options.graceMs);
    await this.#queue?.close().catch(() => {});
    await closeConnection(this.#producer);
  }
}

/** What `createEngine` takes to run on Redis: `{ queue, deliver }` spread into EngineOptions. */
export interface RedisEngineQueue {
  queue: (processor: JobProcessor) => BountyQueue;
  deliver: DeliverFunction;
  /** The RedisQueue, once createEngine made it (for `ready()` and `display`). */
  instance(): RedisQueue | undefined;
}

/**
 * Plugs the Redis queue into `createEngine`: `createEngine({ ...redisEngineQueue({ url, consume }), scanInProcess: consume })`.
 * With `consume: false` the web process only enqueues; with `consume: true` it also scans (`--with-worker`).
 */
export function redisEngineQueue(options: RedisQueueOptions & { consume: boolean }): RedisEngineQueue {
  let instance: RedisQueue | undefined;
  return {
    queue(processor) {
      instance = new RedisQueue({ ...options, processor: options.consume ? processor : undefined });
      return instance;
    },
    // createEngine builds its pipeline (and so needs `deliver`) before it creates the queue: resolve it per call.
    deliver: (request, deliverOptions) => (instance ? instance.deliver(request, deliverOptions) : deliverAnswer(request, deliverOptions)),
    instance: () => instance,
  };
}

export interface RedisConsumerOptions extends RedisQueueOptions {
  processor: JobProcessor;
  /**
   * Called when BullMQ gives up on a job (its retries are spent, or it stalled too often: a scan that keeps killing
   * its worker), so the bounty can still be answered before its expiration. Default: answer `unknown`, bid 0,
   * `ERROR:gave up on this bounty: <reason>`, through the post-once guard.
   */
  onGaveUp?: (job: BountyJob, reason: string) => Promise<void>;
}

/** A consumer only (the `worker` command): takes jobs from Redis and runs them through `processor`. */
export interface RedisConsumer {
  readonly display: string;
  /** The guarded deliver to build the pipeline with. */
  deliver: DeliverFunction;
  /** Fires when scans still running at the end of the grace period are handed back (the pipeline's shutdown signal). */
  handBackSignal: AbortSignal;
  ready(): Promise<void>;
  active(): number;
  /** Whether the job with this dedup key was handed back to the queue at shutdown (its answer was refused here). */
  wasHandedBack(key: string): boolean;
  close(options: { graceMs: number }): Promise<void>;
}

/**
 * Creates a consumer. `processor` may be given lazily: the pipeline needs `deliver` (from here) and this needs
 * the pipeline's processor, so pass a function that calls the processor once it exists.
 */
export function createRedisConsumer(options: RedisConsumerOptions): RedisConsumer {
  const target = typeof options.url === 'string' ? parseRedisUrl(options.url) : options.url;
  const consumer = new Consumer(target, {
    queueName: options.queueName ?? DEFAULT_QUEUE_NAME,
    concurrency: options.concurrency ?? 1,
    lockDurationMs: options.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS,
    logger: options.logger ?? createLogger({ level: 'silent' }),
    processor: options.processor,
    deliver: options.deliver,
    keepCompleted: options.keepCompleted,
    keepFailed: options.keepFailed,
    onGaveUp: options.onGaveUp,
  });
  return {
    display: target.display,
    deliver: consumer.deliver,
    handBackSignal: consumer.handBackSignal,
    ready: () => consumer.ready(),
    active: () => consumer.active,
    wasHandedBack: (key) => consumer.wasHandedBack(key),
    close: ({ graceMs }) => consumer.close(graceMs),
  };
}
