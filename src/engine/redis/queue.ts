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
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { errorMessage } from '../../util/errors.js';
import { createLogger, type Logger } from '../../util/logger.js';
import { deliverAnswer, type DeliverFunction } from '../deliver.js';
import { QueueUnavailableError, type BountyJob, type BountyQueue, type EnqueueOutcome, type JobProcessor } from '../queue.js';
import { closeConnection, isConnectionError, producerConnection, watchConnection } from './connection.js';
import { GUARD_SLACK_MS } from './post-once.js';
import { Consumer } from './consumer.js';
import { encodeJob, jobIdFor } from './job.js';
import { DEFAULT_LOCK_DURATION_MS, DEFAULT_QUEUE_NAME, keep, KEEP_COMPLETED, KEEP_COMPLETED_S, KEEP_FAILED, KEEP_FAILED_S, type RedisQueueOptions } from './options.js';
import { parseRedisUrl, type RedisTarget } from './target.js';

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
