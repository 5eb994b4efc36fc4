/**
 * The consuming half of the Redis queue: a BullMQ Worker feeding jobs to the scan pipeline, with hand-back at
 * shutdown and an answer for every job BullMQ gives up on. Used by `worker` and by web processes that also scan.
 */
import { hostname } from 'node:os';
import { Queue, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { buildAnswer, errorComment, serializeAnswer, unknownResult } from '../../protocol/answer.js';
import { isExpired } from '../../protocol/bounty.js';
import { errorMessage } from '../../util/errors.js';
import { createLogger, type Logger } from '../../util/logger.js';
import { DEFAULTS } from '../defaults.js';
import type { DeliverFunction } from '../deliver.js';
import type { BountyJob, JobProcessor } from '../queue.js';
import { Budget } from './budget.js';
import { closeConnection, consumerConnection, isConnectionError, watchConnection } from './connection.js';
import { decodeJob, jobIdFor } from './job.js';
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
import { PostOnceGuard } from './post-once.js';
import { OverdueWatchdog } from './watchdog.js';
import { parseRedisUrl, type RedisTarget } from './target.js';

interface RunningJob {
  phase: 'scanning' | 'delivering';
  handedBack: boolean;
  handBack: () => void;
}

const HANDED_BACK = Symbol('handed back');

/** The consuming half: a BullMQ Worker feeding jobs to a JobProcessor, with hand-back at shutdown. */
export class Consumer {
  readonly #redis: Redis;
  readonly #worker: Worker;
  readonly #logger: Logger;
  readonly #guard: PostOnceGuard;
  readonly #running = new Map<string, RunningJob>();
  /** Keys of jobs handed back at shutdown (only filled then), so their refused answers are not counted as failures. */
  readonly #handedBack = new Set<string>();
  readonly #handBack = new AbortController();
  readonly #budget: Budget;
  readonly #watchdog: OverdueWatchdog | undefined;
  #queue: Queue | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    target: RedisTarget,
    options: Required<Pick<RedisQueueOptions, 'queueName' | 'concurrency' | 'lockDurationMs'>> & {
      keepCompleted?: number;
      keepFailed?: number;
      logger: Logger;
      processor: JobProcessor;
      deliver?: DeliverFunction;
      onGaveUp?: (job: BountyJob, reason: string) => Promise<unknown>;
      /** With it, this consumer also runs the deadline watchdog (a `worker`; a web process runs its own). */
      onOverdue?: (job: BountyJob) => Promise<unknown>;
      deadlineMarginMs?: number;
    },
  ) {
    this.#logger = options.logger;
    this.#redis = consumerConnection(target);
    watchConnection(this.#redis, target, this.#logger, 'worker');
    this.#budget = new Budget(this.#redis, options.queueName);
    if (options.onOverdue) {
      this.#watchdog = new OverdueWatchdog({
        redis: this.#redis,
        queueName: options.queueName,
        budget: this.#budget,
        marginMs: options.deadlineMarginMs ?? DEFAULTS.deliveryMarginMs,
        onOverdue: options.onOverdue,
        queue: () => (this.#queue ??= new Queue(options.queueName, { connection: this.#redis })),
        logger: this.#logger,
      });
      this.#watchdog.start();
    }
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
      (options.onGaveUp ?? this.#answerGaveUp)(bountyJob, errorMessage(error))
        .catch((failure: unknown) =>
          this.#logger.error('could not answer a failed job', { bounty: bountyJob.bounty.id, error: errorMessage(failure) }),
        )
        .finally(() => this.#finish(bountyJob.key));
    });
  }

  /** The default for a job BullMQ gave up on: answer `unknown` (bid 0) with the reason, if still unexpired. */
  readonly #answerGaveUp = async (job: BountyJob, reason: string): Promise<void> => {
    const { bounty } = job;
    if (isExpired(bounty)) return;
    const comment = errorComment(`gave up on this bounty: ${reason}`);
    const body = serializeAnswer(buildAnswer(bounty, unknownResult(comment), 0n));
    const delivery = await this.deliver({
      url: bounty.response_url,
      body,
      expiration: bounty.expiration,
      bountyId: bounty.id,
      key: job.key,
    });
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

  /** The job is done with (answered, expired, given up): its room in the budget is free. */
  #finish(key: string): Promise<void> {
    return this.#budget
      .finish(jobIdFor(key))
      .catch((error: unknown) => this.#logger.debug('could not free the job’s budget', { error: errorMessage(error) }));
  }

  async #process(job: Job, token: string | undefined, processor: JobProcessor): Promise<string> {
    let bountyJob: BountyJob;
    try {
      bountyJob = decodeJob(job.data);
    } catch (error) {
      this.#logger.error('dropping an unreadable job', { job: job.id, error: errorMessage(error) });
      if (job.id) await this.#budget.finish(job.id).catch(() => {});
      throw new UnrecoverableError(`unreadable job: ${errorMessage(error)}`);
    }
    if ((await this.#budget.start(jobIdFor(bountyJob.key))) === 'overdue') {
      this.#logger.info('answered by the deadline watchdog; not scanning', { bounty: bountyJob.bounty.id, job: job.id });
      return 'overdue';
    }
    if (await this.#guard.posted(bountyJob.key)) {
      this.#logger.info('already answered; not scanning again', { bounty: bountyJob.bounty.id, job: job.id, attempt: job.attemptsStarted });
      await this.#finish(bountyJob.key);
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
        await this.#budget.requeue(jobIdFor(bountyJob.key)).catch(() => {});
        this.#logger.info('job handed back to the queue', { bounty: bountyJob.bounty.id, job: job.id });
        // Tells BullMQ the job was moved on purpose: neither completed nor failed.
        throw new WaitingError();
      }
      await this.#finish(bountyJob.key);
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
      await this.#watchdog?.stop();
      const timer = setTimeout(
        () => {
          // Mark them first: aborting makes their scans answer SKIPPED:SHUTDOWN, which `deliver` must then refuse.
          for (const running of this.#running.values()) if (running.phase === 'scanning') running.handBack();
          this.#handBack.abort();
        },
        Math.max(0, graceMs),
      );
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
      await this.#queue?.close().catch(() => {});
      if (how === 'timeout') {
        this.#logger.warn(
          'gave up waiting for the queue to close (is Redis down?); jobs still held go back to it when their locks expire',
          {
            held: this.#running.size,
          },
        );
        this.#redis.disconnect();
        return;
      }
      await closeConnection(this.#redis);
    })();
    return this.#closing;
  }
}

export interface RedisConsumerOptions extends RedisQueueOptions {
  processor: JobProcessor;
  /**
   * Called when BullMQ gives up on a job (its retries are spent, or it stalled too often: a scan that keeps killing
   * its worker), so the bounty can still be answered before its expiration. Default: answer `unknown`, bid 0,
   * `ERROR:gave up on this bounty: <reason>`, through the post-once guard.
   */
  onGaveUp?: (job: BountyJob, reason: string) => Promise<unknown>;
  /**
   * Answers a job that no worker started by its scan deadline (`pipeline.abandon(job, SKIP.TIMEOUT)`); with it, this
   * consumer runs the deadline watchdog (watchdog.ts).
   */
  onOverdue?: (job: BountyJob) => Promise<unknown>;
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
    onOverdue: options.onOverdue,
    deadlineMarginMs: options.deadlineMarginMs,
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
