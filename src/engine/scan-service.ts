/**
 * A queue driven by the scan core: `createEngine` and `createRedisWorker` both build their queue, then call
 * `startScanning(queue, …)`, so counting, the answer to a job a queue gives up on and the shutdown cannot differ.
 */
import type { Logger } from '../util/logger.js';
import { DEFAULTS } from './defaults.js';
import { deliverAnswer } from './deliver.js';
import { boundedPoster } from './deliverer.js';
import type { BountyQueue } from './queue.js';
import { createScanner, type ScannerOptions, type ScannerStats } from './scanner.js';

export interface ScanService {
  stats(): ScannerStats;
  /**
   * Graceful stop: the queue takes no new jobs and lets running ones finish for at most `graceMs`, then cuts them
   * short (kept, handed back or answered, as the queue's `cutJobs` says). Then `beforeStopped` (the engine closes its
   * listeners) and the `stopped` line with the counts, the same for every process that scans; `quiet`: no lines.
   */
  close(graceMs: number, options?: { quiet?: boolean; beforeStopped?: () => Promise<unknown> }): Promise<void>;
}

/** Creates the scan core for `queue` (its answer poster and shutdown rule) and starts the queue on it. */
export function startScanning(queue: BountyQueue, options: ScannerOptions & { logger: Logger }): ScanService {
  // Answers hold no scan slot: they wait for post slots of their own (deliverer.ts), behind what the queue adds.
  const bounded = boundedPoster(options.post ?? deliverAnswer, {
    inFlight: DEFAULTS.answerPostsInFlight,
    perOrigin: DEFAULTS.answerPostsPerOrigin,
  });
  const post = queue.postThrough ? queue.postThrough(bounded) : bounded;
  const scanner = createScanner({ ...options, post, cutJobs: queue.cutJobs });
  queue.start(scanner);
  let closing: Promise<void> | undefined;
  return {
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
        await closeOptions.beforeStopped?.();
        const { answered, answerFailed, expired, retained } = scanner.stats();
        if (!closeOptions.quiet) options.logger.info('stopped', { answered, answer_failed: answerFailed, expired, retained });
      })();
      return closing;
    },
  };
}
