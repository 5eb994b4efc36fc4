/**
 * The errors of a BullMQ Worker, logged once per change with a count (error-tally.ts), and a pause after each one.
 * BullMQ's main loop retries a failed fetch at once when the error is not a connection error: a Redis that refuses
 * writes (OOM) made a worker fetch, fail and log 10–16 thousand times a second at 57 % CPU (issue 24). Pausing the
 * worker (its running jobs go on) and resuming it after a growing delay turns that into a few attempts a second at most.
 */
import type { Worker } from 'bullmq';
import type { Logger } from '../../util/logger.js';
import { isConnectionError } from './connection.js';
import { ErrorTally } from './error-tally.js';

/** The first pause after an error; it doubles with each error in a row, up to MAX_BACKOFF_MS. */
const PAUSE_MS = 100;

/** Takes over a Worker's 'error' events; `closing()` tells it not to resume a worker that is being closed. */
export function throttleWorkerErrors(worker: Worker, logger: Logger, closing: () => boolean): void {
  const tally = new ErrorTally(logger, 'worker: a Redis command failed');
  let pausedByUs = false;
  worker.on('active', () => tally.succeeded());
  worker.on('error', (error) => {
    // Connection errors are logged once per outage by the connection watcher, and BullMQ waits between those itself.
    if (isConnectionError(error)) {
      logger.debug('worker connection error', { error: String(error) });
      return;
    }
    tally.failed(error);
    if (pausedByUs || closing() || worker.isPaused()) return;
    pausedByUs = true;
    void worker.pause(true).then(() =>
      setTimeout(() => {
        pausedByUs = false;
        if (!closing()) void worker.resume();
      }, tally.backoffMs(PAUSE_MS)).unref(),
    );
  });
}
