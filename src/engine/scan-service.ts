/**
 * A queue driven by the scan core: the one composition every engine process shares. `createEngine` (the embedded
 * queue, or Redis with a web process that also scans) and `createRedisWorker` both build their queue, then call
 * `startScanning(queue, …)`, so a behaviour (counting, the answer to a job a queue gives up on, the shutdown) cannot
 * differ between them.
 */
import type { Logger } from '../util/logger.js';
import type { BountyQueue } from './queue.js';
import { createScanner, type Scanner, type ScannerOptions, type ScannerStats } from './scanner.js';

export interface ScanService {
  readonly scanner: Scanner;
  stats(): ScannerStats;
  /**
   * Graceful stop: the queue takes no new jobs and lets running ones finish for at most `graceMs`, then cuts them
   * short (kept, handed back or answered, as the queue's `cutJobs` says). Resolves when this process holds no job.
   */
  close(graceMs: number, options?: { quiet?: boolean }): Promise<void>;
}

/** Creates the scan core for `queue` (its answer poster and shutdown rule) and starts the queue on it. */
export function startScanning(queue: BountyQueue, options: ScannerOptions & { logger: Logger }): ScanService {
  const scanner = createScanner({ ...options, post: options.post ?? queue.post, cutJobs: queue.cutJobs });
  queue.start(scanner);
  let closing: Promise<void> | undefined;
  return {
    scanner,
    stats: () => scanner.stats(),
    close(graceMs, closeOptions = {}) {
      closing ??= (async () => {
        const { waiting, active } = queue.counts();
        if (!closeOptions.quiet)
          options.logger.info('shutting down', {
            queued: waiting,
            running: active,
            grace_ms: graceMs,
            ...(queue.cutJobs === 'keep-cut-posts' ? { kept_for_next_start: waiting } : {}),
          });
        await queue.close({ graceMs });
        await scanner.idle();
        await queue.release?.();
        await scanner.close();
      })();
      return closing;
    },
  };
}

/** The closing line's counts, the same for every process that scans. */
export function stoppedFields(stats: ScannerStats): Record<string, number> {
  return { answered: stats.answered, answer_failed: stats.answerFailed, expired: stats.expired, retained: stats.retained };
}
