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
 * - Bounded: at most `maxQueued` jobs waiting and `maxQueuedBytes` of bodies stored, across every web process
 *   (budget.ts, checked atomically before a job is stored); one more is 'full' (503 + Retry-After). Completed and
 *   failed jobs are trimmed by count and age; guard keys expire with the bounty.
 * - Nothing evicted: a Redis whose maxmemory-policy would delete keys is refused (inspect.ts), at start and after
 *   every reconnection.
 * - Answered in time: a deadline watchdog in this process answers jobs no worker started by their scan deadline.
 * - Nothing internal in a reply: 503 bodies and `GET /` say what is wrong (unreachable, out of memory), never the
 *   URL or Redis's own error text; the log has those.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { errorMessage } from '../../util/errors.js';
import { createLogger, type Logger } from '../../util/logger.js';
import { DEFAULTS } from '../defaults.js';
import { deliverAnswer, type DeliverFunction } from '../deliver.js';
import { QueueUnavailableError, type BountyJob, type BountyQueue, type EnqueueOutcome, type JobProcessor } from '../queue.js';
import type { QueueContext } from '../engine.js';
import { closeConnection, isConnectionError, producerConnection, watchConnection } from './connection.js';
import { Budget } from './budget.js';
import { evictionRefusal, outOfMemory, readFacts, readMemory } from './inspect.js';
import { GUARD_SLACK_MS, PostOnceGuard } from './post-once.js';
import { OverdueWatchdog } from './watchdog.js';
import { Consumer } from './consumer.js';
import { encodeJob, jobIdFor } from './job.js';
import {
  DEFAULT_LOCK_DURATION_MS,
  DEFAULT_QUEUE_NAME,
  keep,
  KEEP_COMPLETED,
  KEEP_COMPLETED_S,
  KEEP_FAILED,
  KEEP_FAILED_S,
  type RedisQueueOptions,
} from './options.js';
import { parseRedisUrl, type RedisTarget } from './target.js';

/** How long `GET /` reports out-of-memory after a bounty was refused for it (the 503's Retry-After is 5 s). */
const OOM_REPORTED_MS = 10_000;

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
  readonly #budget: Budget;
  readonly #maxQueued: number;
  readonly #maxQueuedBytes: number;
  readonly #guard: PostOnceGuard;
  readonly #watchdog: OverdueWatchdog | undefined;
  /** Set when Redis (re)connects with an evicting policy: nothing is stored until it is fixed. */
  #refusal: string | null = null;
  /** The last internal error logged, so an outage is logged once, not once per refused bounty. */
  #lastLogged: string | null = null;
  /**
   * When a write last failed with OOM. Redis is then at its limit, yet INFO may show it just under (the refused
   * command's own buffer is freed), so `GET /` reports it for a while after.
   */
  #oomAt = 0;

  constructor(options: RedisQueueOptions & { processor?: JobProcessor }) {
    this.#target = typeof options.url === 'string' ? parseRedisUrl(options.url) : options.url;
    this.#logger = options.logger ?? createLogger({ level: 'silent' });
    this.#queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
    const lockDurationMs = options.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS;
    this.#keepCompleted = keep(options.keepCompleted ?? KEEP_COMPLETED, KEEP_COMPLETED_S);
    this.#keepFailed = keep(options.keepFailed ?? KEEP_FAILED, KEEP_FAILED_S);
    this.#producer = producerConnection(this.#target, options.commandTimeoutMs ?? 2000);
    this.#producerState = watchConnection(this.#producer, this.#target, this.#logger, 'web');
    this.#budget = new Budget(this.#producer, this.#queueName);
    this.#maxQueued = options.maxQueued ?? DEFAULTS.queueCapacity;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? DEFAULTS.maxQueuedBytes;
    this.#guard = new PostOnceGuard(this.#producer, {
      namespace: this.#queueName,
      leaseMs: lockDurationMs,
      deliver: options.deliver,
      logger: this.#logger,
    });
    this.#producer.on('ready', () => {
      if (this.#closed) return;
      void this.#inspect();
      if (this.#queue) return;
      this.#queue = new Queue(this.#queueName, { connection: this.#producer });
      this.#queue.on('error', (error) => {
        if (!isConnectionError(error)) this.#logger.error('queue error', { error: errorMessage(error) });
      });
    });
    this.#watchdog = options.onOverdue
      ? new OverdueWatchdog({
          redis: this.#producer,
          queueName: this.#queueName,
          budget: this.#budget,
          marginMs: options.deadlineMarginMs ?? DEFAULTS.deliveryMarginMs,
          onOverdue: options.onOverdue,
          queue: () => this.#queue,
          logger: this.#logger,
        })
      : undefined;
    this.#watchdog?.start();
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

  /** The consumer's guarded deliver (EngineOptions.deliver), or the same guard on the web's connection (overdue answers). */
  readonly deliver: DeliverFunction = (request, options) =>
    this.#consumer ? this.#consumer.deliver(request, options) : this.#guard.deliver(request, options);

  /** Checks the eviction policy on every (re)connection: Redis may have been reconfigured or replaced meanwhile. */
  async #inspect(): Promise<void> {
    try {
      const refusal = evictionRefusal(await readFacts(this.#producer), this.#target.display);
      if (refusal && this.#refusal === null)
        this.#logger.error('refusing bounties: Redis would evict them', { error: refusal.message, hint: refusal.hint });
      else if (!refusal && this.#refusal !== null)
        this.#logger.info('Redis no longer evicts keys; taking bounties again', { queue: this.#target.display });
      this.#refusal = refusal ? refusal.message : null;
    } catch (error) {
      this.#logger.debug('could not read the Redis configuration', { error: errorMessage(error) });
    }
  }

  /** Logs an internal error once per change; returns what a caller may be told (no URL, no Redis error text). */
  #unavailable(error: unknown): QueueUnavailableError {
    const message = errorMessage(error);
    const oom = /\bOOM\b/.test(message);
    if (oom) this.#oomAt = Date.now();
    if (message !== this.#lastLogged) {
      this.#lastLogged = message;
      this.#logger.error(oom ? 'Redis is out of memory; bounties are refused with 503' : 'could not store a bounty in Redis', {
        queue: this.#target.display,
        error: message,
      });
    }
    return new QueueUnavailableError(oom ? 'the shared queue is out of memory' : 'the shared queue is unreachable', { cause: error });
  }

  /** Resolves once Redis answered (and the consumer, if any, is taking jobs); rejects after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new QueueUnavailableError(
              `Redis at ${this.#target.display} did not answer within ${timeoutMs} ms: ${this.#producerState.lastError() ?? 'no connection yet'}`,
            ),
          ),
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
    if (this.#refusal !== null) throw new QueueUnavailableError('the shared queue’s Redis would evict bounties (maxmemory-policy)');
    const queue = this.#queue;
    if (!queue || this.#producer.status !== 'ready')
      throw this.#unavailable(new Error(this.#producerState.lastError() ?? `connection ${this.#producer.status}`));
    const id = jobIdFor(job.key);
    const seen = `${this.#queueName}:seen:${id}`;
    const expiresAt = job.bounty.expiration.getTime();
    let reserved = false;
    try {
      // Room first, atomically across web processes. 'seen': stored before (possibly done and trimmed), a duplicate
      // with nothing to add again; 'held': a racing copy reserved it, and adding again is a no-op.
      const room = await this.#budget.reserve(id, seen, job.bytes ?? 0, expiresAt, this.#maxQueued, this.#maxQueuedBytes);
      if (room === 'seen') return 'duplicate';
      if (room === 'full-count' || room === 'full-bytes') {
        this.#logger.debug('shared queue full', {
          limit: room === 'full-count' ? `--max-queued ${this.#maxQueued}` : `--max-queued-bytes ${this.#maxQueuedBytes}`,
        });
        return 'full';
      }
      reserved = room === 'ok';
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
      const ttl = Math.max(1, expiresAt - Date.now()) + GUARD_SLACK_MS;
      const first = await this.#producer.set(seen, job.deliveryId ?? '1', 'PX', ttl, 'NX');
      this.#lastLogged = null;
      this.#oomAt = 0;
      return first === 'OK' ? 'accepted' : 'duplicate';
    } catch (error) {
      if (reserved) await this.#budget.finish(id).catch(() => {});
      throw this.#unavailable(error);
    }
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    if (this.#closed) return { ok: false, detail: 'the queue is shutting down' };
    if (this.#refusal !== null) return { ok: false, detail: 'the shared queue’s Redis would evict bounties (maxmemory-policy)' };
    try {
      if (this.#producer.status !== 'ready') throw new Error(this.#producerState.lastError() ?? `connection ${this.#producer.status}`);
      const memory = await readMemory(this.#producer);
      if (outOfMemory(memory) || Date.now() - this.#oomAt < OOM_REPORTED_MS)
        return { ok: false, detail: 'the shared queue is out of memory' };
      return { ok: true };
    } catch (error) {
      // The connection watcher logged why; an unauthenticated caller learns only that it is down.
      this.#logger.debug('health: Redis unavailable', { error: errorMessage(error) });
      return { ok: false, detail: 'the shared queue is unreachable' };
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
    await this.#watchdog?.stop();
    await this.#consumer?.close(options.graceMs);
    await this.#queue?.close().catch(() => {});
    await closeConnection(this.#producer);
  }
}

/** What `createEngine` takes to run on Redis: `{ queue, deliver }` spread into EngineOptions. */
export interface RedisEngineQueue {
  queue: (processor: JobProcessor, context?: QueueContext) => BountyQueue;
  deliver: DeliverFunction;
  /** The RedisQueue, once createEngine made it (for `ready()` and `display`). */
  instance(): RedisQueue | undefined;
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Plugs the Redis queue into `createEngine`: `createEngine({ ...redisEngineQueue({ url, consume }), scanInProcess: consume })`.
 * With `consume: false` the web process only enqueues; with `consume: true` it also scans (`--with-worker`).
 */
export function redisEngineQueue(options: RedisQueueOptions & { consume: boolean }): RedisEngineQueue {
  let instance: RedisQueue | undefined;
  return {
    queue(processor, context) {
      // The engine's limits (`capacity`, `maxQueuedBytes`) apply unless these options set the queue's own.
      instance = new RedisQueue({
        maxQueued: context?.capacity,
        maxQueuedBytes: context?.maxQueuedBytes,
        deadlineMarginMs: context?.deadlineMarginMs,
        onOverdue: context?.onOverdue,
        ...definedOnly(options),
        url: options.url,
        processor: options.consume ? processor : undefined,
      });
      return instance;
    },
    // createEngine builds its pipeline (and so needs `deliver`) before it creates the queue: resolve it per call.
    deliver: (request, deliverOptions) => (instance ? instance.deliver(request, deliverOptions) : deliverAnswer(request, deliverOptions)),
    instance: () => instance,
  };
}
