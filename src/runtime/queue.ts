/**
 * Which queue `serve`/`start` use, from `--queue`:
 * - absent: the embedded queue with its journal in the state folder (crash-safe, the default);
 * - `memory`: the embedded queue without a journal (a crash loses what is queued; the user chose it);
 * - `redis://…`: Redis (BullMQ), shared with `polyswarm-engine worker` processes.
 */
import { join, relative } from 'node:path';
import { defaultConcurrency } from '../engine/defaults.js';
import type { EngineOptions } from '../engine/engine.js';
import { JournalLockedError, openJournal } from '../engine/journal.js';
import { UsageError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { sharedQueueName } from './queue-name.js';

export interface QueueChoice {
  command: 'serve' | 'start';
  /** `--queue` / `POLYSWARM_QUEUE_URL`: a Redis URL, `memory`, or absent (journaled). */
  url?: string;
  /** `--queue-name`: the Redis queue's name (default: the project's package name). */
  queueName?: string;
  /** `--max-queued`, `--max-queued-bytes`: the shared queue's limits (createEngine passes them to the embedded queue). */
  maxQueued?: number;
  maxQueuedBytes?: number;
  /** The project folder, and the state folder the journal lives in (`--state-dir`, default <project>/.polyswarm). */
  projectDir: string;
  stateDir?: string;
  /** `start --with-worker`: also scan in this process. */
  withWorker?: boolean;
  concurrency?: number;
  /** The Redis job lock (`--lock-duration`). */
  lockDurationMs: number;
  logger: Logger;
}

export interface QueueSetup {
  /** The engine's `queue` factory (undefined: the embedded queue). */
  queue?: EngineOptions['queue'];
  /** The engine's `deliver` (the Redis queue's post-once guard; undefined: plain deliverAnswer). */
  deliver?: EngineOptions['deliver'];
  /** The embedded queue's journal (undefined: memory or Redis). */
  journal?: EngineOptions['journal'];
  /** The engine's `scanInProcess`. */
  scanInProcess: boolean;
  /** For the banner and the log, e.g. `embedded`; never a password. */
  description: string;
  /**
   * Resolves once the queue's backend answers, or after a few seconds if it does not (then the engine answers 503
   * until it does, and the log says why). Never rejects.
   */
  ready?(): Promise<void>;
  /** Releases what the queue holds (connections), after the engine closed. */
  close?(): Promise<void>;
}

/** How long `start`/`serve` wait for Redis before printing `ready` anyway. */
const READY_WAIT_MS = 3000;

/** Chooses the engine's queue from the command's flags. Throws a UsageError for flags that do not go together. */
export async function queueFromConfig(choice: QueueChoice): Promise<QueueSetup> {
  if (choice.withWorker && !choice.url) {
    throw new UsageError('--with-worker needs --queue', {
      hint: 'Without --queue the engine already scans in this process; pass --queue redis://… to share a Redis queue.',
    });
  }
  if (!choice.url || choice.url.trim().toLowerCase() === 'memory') {
    if (choice.withWorker) throw new UsageError('--with-worker needs --queue redis://…');
    if (choice.url) return { scanInProcess: true, description: 'embedded, in memory (a crash loses queued bounties)' };
    const dir = choice.stateDir ?? join(choice.projectDir, '.polyswarm');
    let journal: ReturnType<typeof openJournal>;
    try {
      journal = openJournal(dir);
    } catch (error) {
      // A second `serve` of one project (development): it runs, in memory, and says so. `start` never falls back.
      if (choice.command === 'serve' && choice.stateDir === undefined && error instanceof JournalLockedError) {
        choice.logger.warn('another engine of this project holds its journal; this serve keeps its queue in memory', { pid: error.pid });
        return { scanInProcess: true, description: `embedded, in memory (pid ${error.pid} holds the journal)` };
      }
      throw error;
    }
    const shown = relative(choice.projectDir, journal.path) || journal.path;
    return {
      scanInProcess: true,
      journal,
      description: `embedded, journaled in ${shown.startsWith('..') ? journal.path : shown}`,
      close: () => journal.close(),
    };
  }
  // Loaded only when asked for: BullMQ and ioredis add about a quarter of a second to every start-up.
  const { parseRedisUrl, preflight, redisEngineQueue } = await import('../engine/redis/index.js');
  const target = parseRedisUrl(choice.url);
  const { queueName, engine } = sharedQueueName(choice.projectDir, choice.queueName);
  // Exit 2 now for a Redis that would evict bounties or a queue that belongs to another engine; if Redis is down,
  // the queue checks the policy when it connects (and refuses bounties meanwhile).
  await preflight(target, { queueName, engine, role: 'web', logger: choice.logger, timeoutMs: READY_WAIT_MS });
  // `serve` is for development: it scans too, so one process shows answers without a separate worker.
  const consume = choice.command === 'serve' || Boolean(choice.withWorker);
  const redis = redisEngineQueue({
    url: target,
    queueName,
    consume,
    concurrency: choice.concurrency ?? defaultConcurrency(),
    lockDurationMs: choice.lockDurationMs,
    maxQueued: choice.maxQueued,
    maxQueuedBytes: choice.maxQueuedBytes,
    logger: choice.logger,
  });
  return {
    queue: redis.queue,
    deliver: redis.deliver,
    scanInProcess: consume,
    // The connection watcher has logged why, if it fails; serving 503s meanwhile is the intended behaviour.
    ready: () =>
      redis
        .instance()
        ?.ready(READY_WAIT_MS)
        .catch(() => {}) ?? Promise.resolve(),
    description: `redis ${target.display} (${consume ? 'scanning in this process too' : 'web only: workers scan'}; queue ${queueName})`,
  };
}
