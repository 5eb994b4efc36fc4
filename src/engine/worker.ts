/**
 * A scan worker on the Redis queue (`polyswarm-engine worker`): runs the bounties web processes stored through the
 * same scan core as the embedded engine (scan-service.ts). No secret here: the web process checked the signatures.
 */
import { createLogger } from '../util/logger.js';
import { DEFAULTS, defaultConcurrency } from './defaults.js';
import { integerOption } from './errors.js';
import { RedisQueue } from './redis/queue.js';
import type { RedisTarget } from './redis/target.js';
import { startScanning } from './scan-service.js';
import type { ScannerOptions, ScannerStats } from './scanner.js';

/** The scan core's options (scanner.ts) and the Redis queue's. */
export interface RedisWorkerOptions extends Omit<ScannerOptions, 'cutJobs'> {
  /** `redis://host:port[/db]` (or a parsed target). */
  queue: string | RedisTarget;
  /** Scans at a time in this process (default os.availableParallelism()). */
  concurrency?: number;
  /** Job lock; a killed worker's jobs go to others after about 1.5× this (default 10 s). */
  lockDurationMs?: number;
  /** Default DEFAULT_QUEUE_NAME; the CLI names it after the engine project's package (redis/options.ts). */
  queueName?: string;
  /** Finished jobs kept in Redis, for jobs whose web process did not set it (defaults 1000 / 5000). */
  keepCompleted?: number;
  keepFailed?: number;
}

export interface RedisWorker {
  /** The queue URL with any password masked. */
  readonly queue: string;
  readonly concurrency: number;
  /** Resolves once connected to Redis and taking jobs (waits for Redis to come up). */
  ready(): Promise<void>;
  /**
   * Graceful stop: takes no new jobs, lets running ones finish; after `graceMs` (default 25 s) jobs still scanning
   * are handed back to the queue for another worker (counted as `retained`). Resolves when this worker holds no job.
   */
  close(options?: { graceMs?: number }): Promise<void>;
  stats(): ScannerStats;
}

/** Starts a worker on the Redis queue; it takes jobs as soon as it is connected. */
export function createRedisWorker(options: RedisWorkerOptions): RedisWorker {
  const concurrency = integerOption('createRedisWorker', 'concurrency', options.concurrency, defaultConcurrency());
  const lockDurationMs = integerOption('createRedisWorker', 'lockDurationMs', options.lockDurationMs, DEFAULTS.lockDurationMs, 1000);
  const logger = options.logger ?? createLogger({ level: 'silent' });
  const queue = new RedisQueue({
    role: 'worker',
    url: options.queue,
    queueName: options.queueName,
    concurrency,
    lockDurationMs,
    logger,
    post: options.post,
    keepCompleted: options.keepCompleted,
    keepFailed: options.keepFailed,
    deadlineMarginMs: options.deliveryMarginMs,
  });
  const service = startScanning(queue, {
    module: options.module,
    deliveryMarginMs: options.deliveryMarginMs,
    maxArtifactBytes: options.maxArtifactBytes,
    egress: options.egress,
    logger,
    observer: options.observer,
  });
  return {
    queue: queue.display,
    concurrency,
    // Waits for Redis however long it takes: a worker started before its Redis simply begins when Redis is up.
    ready: () => queue.ready(),
    // The service closes once: a second call returns the first one's promise.
    close: (closeOptions = {}) => service.close(closeOptions.graceMs ?? DEFAULTS.shutdownGraceMs),
    stats: () => service.stats(),
  };
}
