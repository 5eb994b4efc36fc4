/**
 * A scan worker on the Redis queue (`polyswarm-engine worker`): takes bounties that web processes stored, runs the
 * same scan pipeline as the embedded engine (fetch → scan → bid → answer), and posts each answer once. Run as many
 * as you like, on as many machines; no webhook secret is needed here, the web process checked the signatures.
 */
import { errorComment, SKIP } from '../protocol/answer.js';
import { bountyToWire } from '../protocol/bounty.js';
import { stringifyJson } from '../protocol/json.js';
import { UsageError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/logger.js';
import { DEFAULTS, defaultConcurrency } from './defaults.js';
import type { DeliverFunction } from './deliver.js';
import type { EngineObserver, JobEvent } from './observer.js';
import { createPipeline, type Pipeline } from './pipeline.js';
import type { BountyJob, JobOutcome } from './queue.js';
import { createRedisConsumer, DEFAULT_LOCK_DURATION_MS, DEFAULT_QUEUE_NAME, type RedisTarget } from './redis/index.js';
import type { ScanModule } from './types.js';

export interface RedisWorkerOptions {
  /** `redis://host:port[/db]` (or a parsed target). */
  queue: string | RedisTarget;
  /** The scan module, or a getter called for every bounty. */
  module: ScanModule | (() => ScanModule);
  /** Scans at a time in this process (default os.availableParallelism()). */
  concurrency?: number;
  /** Default 2000: scan deadline = expiration − margin, leaving time to post the answer. */
  deliveryMarginMs?: number;
  /** Default 64 MiB. */
  maxArtifactBytes?: number;
  /** Job lock; a killed worker's jobs go to others after about 1.5× this (default 10 s). */
  lockDurationMs?: number;
  /** Default DEFAULT_QUEUE_NAME; the CLI names it after the engine project's package (redis/options.ts). */
  queueName?: string;
  /** Default: silent. */
  logger?: Logger;
  /** The underlying POST (default deliverAnswer); the post-once guard goes in front of it. */
  deliver?: DeliverFunction;
  /** Finished jobs kept in Redis, for jobs whose web process did not set it (defaults 1000 / 5000). */
  keepCompleted?: number;
  keepFailed?: number;
  /** Told about every answer and failed scan of this worker (metrics); engine/observer.ts. */
  observer?: EngineObserver;
}

export interface RedisWorkerStats {
  running: number;
  answered: number;
  deliveryFailed: number;
  expired: number;
  /** Jobs given back to the queue at shutdown, for another worker to answer. */
  handedBack: number;
}

export interface RedisWorker {
  /** The queue URL with any password masked. */
  readonly queue: string;
  readonly concurrency: number;
  /** Resolves once connected to Redis and taking jobs (waits for Redis to come up). */
  ready(): Promise<void>;
  /**
   * Graceful stop: takes no new jobs, lets running ones finish; after `graceMs` (default 30 s) jobs still scanning
   * are handed back to the queue for another worker. Resolves when this worker holds no job.
   */
  close(options?: { graceMs?: number }): Promise<void>;
  stats(): RedisWorkerStats;
}

/** Tells the observer (the recorder of `worker --record`) which job this worker took, before its scan. */
function observeJob(observer: EngineObserver | undefined, job: BountyJob): void {
  if (!observer?.onJob) return;
  const event: JobEvent = { bounty: job.bounty.id, key: job.key, delivery: job.deliveryId, receivedAt: job.receivedAt };
  if (observer.wantsBodies) event.body = Buffer.from(stringifyJson(bountyToWire(job.bounty)), 'utf8');
  try {
    observer.onJob(event);
  } catch {
    // Watching never changes what the engine answers.
  }
}

/** Starts a worker on the Redis queue; it takes jobs as soon as it is connected. */
export function createRedisWorker(options: RedisWorkerOptions): RedisWorker {
  const moduleOption = options.module;
  if (typeof moduleOption !== 'function' && typeof moduleOption?.scan !== 'function') {
    throw new UsageError('createRedisWorker: module must be a scan module ({ scan }) or a function returning one');
  }
  const concurrency = options.concurrency ?? defaultConcurrency();
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new UsageError(`createRedisWorker: concurrency must be an integer ≥ 1, got ${concurrency}`);
  }
  const lockDurationMs = options.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS;
  if (!Number.isInteger(lockDurationMs) || lockDurationMs < 1000) {
    throw new UsageError(`createRedisWorker: lockDurationMs must be an integer ≥ 1000, got ${lockDurationMs}`);
  }
  const getModule: () => ScanModule = typeof moduleOption === 'function' ? moduleOption : () => moduleOption;
  const logger = options.logger ?? createLogger({ level: 'silent' });
  const counters = { answered: 0, deliveryFailed: 0, expired: 0, handedBack: 0 };
  const count = (outcome: JobOutcome, job: BountyJob) => {
    if (outcome === 'answered') counters.answered++;
    // A handed-back job's answer is refused on purpose: another worker answers it.
    else if (outcome === 'delivery-failed') consumer.wasHandedBack(job.key) ? counters.handedBack++ : counters.deliveryFailed++;
    else if (outcome === 'expired') counters.expired++;
  };

  // The pipeline needs the consumer's guarded deliver and the consumer needs the pipeline: it is looked up per
  // job, by which time both exist.
  let pipeline: Pipeline | undefined;
  const consumer = createRedisConsumer({
    url: options.queue,
    queueName: options.queueName ?? DEFAULT_QUEUE_NAME,
    concurrency,
    lockDurationMs,
    logger,
    deliver: options.deliver,
    keepCompleted: options.keepCompleted,
    keepFailed: options.keepFailed,
    processor: (job) => {
      observeJob(options.observer, job);
      return pipeline!.process(job);
    },
    onGaveUp: (job, reason) => pipeline!.abandon(job, errorComment(`gave up on this bounty: ${reason}`)),
    // Jobs no worker can start by their scan deadline are answered `unknown` (SKIPPED:TIMEOUT) by whichever process
    // on the queue sees the deadline first (redis/watchdog.ts).
    onOverdue: (job) => pipeline!.abandon(job, SKIP.TIMEOUT),
    deadlineMarginMs: options.deliveryMarginMs,
  });
  pipeline = createPipeline({
    module: getModule,
    deliver: consumer.deliver,
    deliveryMarginMs: options.deliveryMarginMs,
    maxArtifactBytes: options.maxArtifactBytes,
    logger,
    // Scans still running when the grace period ends are aborted, and their jobs go back to the queue.
    shutdownSignal: consumer.handBackSignal,
    onOutcome: count,
    observer: options.observer,
  });

  let closing: Promise<void> | undefined;
  return {
    queue: consumer.display,
    concurrency,
    ready: () => consumer.ready(),
    close(closeOptions = {}) {
      closing ??= (async () => {
        const graceMs = closeOptions.graceMs ?? DEFAULTS.shutdownGraceMs;
        logger.info('shutting down', { running: consumer.active(), grace_ms: graceMs });
        await consumer.close({ graceMs });
        logger.info('stopped', {
          answered: counters.answered,
          delivery_failed: counters.deliveryFailed,
          expired: counters.expired,
          handed_back: counters.handedBack,
        });
      })();
      return closing;
    },
    stats: () => ({ running: consumer.active(), ...counters }),
  };
}
