/**
 * Where `serve`/`start` plug in a shared queue (`--queue redis://…`, `--with-worker`). The embedded in-process
 * queue is the default; the Redis queue replaces the body of `queueFromOptions` when it lands.
 */
import { UsageError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { EngineOptions } from './engine.js';

export interface QueueChoice {
  command: 'serve' | 'start';
  /** `--queue` / `POLYSWARM_QUEUE_URL`. */
  url?: string;
  /** `start --with-worker`: also scan in this process. */
  withWorker?: boolean;
  concurrency?: number;
  logger: Logger;
}

export interface QueueSetup {
  /** The engine's `queue` factory (undefined: the embedded queue). */
  queue?: EngineOptions['queue'];
  /** The engine's `scanInProcess`. */
  scanInProcess: boolean;
  /** For the banner and the log, e.g. `embedded`; never a password. */
  description: string;
  /** Releases what the queue holds (connections), after the engine closed. */
  close?(): Promise<void>;
}

/** A queue URL without its credentials, for messages. */
export function redactQueueUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}

/** Chooses the engine's queue from the command's flags. Throws a UsageError for flags that do not go together. */
export async function queueFromOptions(choice: QueueChoice): Promise<QueueSetup> {
  if (choice.withWorker && !choice.url) {
    throw new UsageError('--with-worker needs --queue', {
      hint: 'Without --queue the engine already scans in this process; pass --queue redis://… to share a Redis queue.',
    });
  }
  if (choice.url) {
    throw new UsageError(`--queue ${redactQueueUrl(choice.url)}: shared Redis queues are not available yet in this build`, {
      hint: 'Run without --queue (and unset POLYSWARM_QUEUE_URL) to use the embedded in-process queue.',
    });
  }
  return { scanInProcess: true, description: 'embedded (in process)' };
}
