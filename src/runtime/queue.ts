/**
 * Which queue `serve`/`start` hand the engine, built here from `--queue`:
 * - absent: the embedded queue with its journal in the state folder (crash-safe, the default);
 * - `memory`: the embedded queue without a journal (a crash loses what is queued; the user chose it);
 * - `redis://…`: Redis (BullMQ), shared with `polyswarm-engine worker` processes.
 */
import { join, relative, resolve } from 'node:path';
import { DEFAULTS, defaultConcurrency } from '../engine/defaults.js';
import { isEngineError } from '../engine/errors.js';
import { openJournal } from '../engine/journal.js';
import { EmbeddedQueue } from '../engine/embedded-queue.js';
import type { BountyQueue } from '../engine/queue.js';
import { UsageError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { EngineProcessConfig } from './engine-process.js';
import { connectionOf, sharedQueueName, type QueueConnectionConfig } from './queue-name.js';

/** The flags of `serve`/`start` the queue is built from (`stateDir` defaults to <project>/.polyswarm). */
export type QueueChoice = QueueConnectionConfig &
  Pick<
    EngineProcessConfig,
    'mode' | 'cwd' | 'queue' | 'queueName' | 'maxQueued' | 'maxQueuedBytes' | 'stateDir' | 'withWorker' | 'concurrency' | 'lockDuration'
  >;

export interface QueueSetup {
  queue: BountyQueue;
  /** For the banner and the log, e.g. `embedded, journaled in .polyswarm/journal.lmdb`; never a password. */
  description: string;
  /**
   * Resolves once the queue's backend answers, or after a few seconds if it does not (then the engine answers 503
   * until it does, and the log says why). Never rejects.
   */
  ready(): Promise<void>;
}

/** How long `start`/`serve` wait for Redis before printing `ready` anyway. */
const READY_WAIT_MS = 3000;

/** Builds the engine's queue from the command's flags. Throws a UsageError for flags that do not go together. */
export async function openQueue(choice: QueueChoice, projectDir: string, logger: Logger): Promise<QueueSetup> {
  if (choice.withWorker && !choice.queue?.startsWith('redis')) {
    throw new UsageError('--with-worker needs --queue redis://…', {
      hint: 'Without --queue the engine already scans in this process; pass --queue redis://… to share a Redis queue.',
    });
  }
  const limits = {
    concurrency: choice.concurrency ?? defaultConcurrency(),
    capacity: choice.maxQueued ?? DEFAULTS.queueCapacity,
    maxBytes: choice.maxQueuedBytes ?? DEFAULTS.maxQueuedBytes,
    deadlineMarginMs: DEFAULTS.deliveryMarginMs,
    logger,
  };
  const ready = async () => {};
  if (!choice.queue || choice.queue.trim().toLowerCase() === 'memory') {
    const memory = () => new EmbeddedQueue(limits);
    if (choice.queue) return { queue: memory(), description: 'embedded, in memory (a crash loses queued bounties)', ready };
    const dir = choice.stateDir === undefined ? join(projectDir, '.polyswarm') : resolve(choice.cwd, choice.stateDir);
    let journal: ReturnType<typeof openJournal>;
    try {
      journal = openJournal(dir);
    } catch (error) {
      // A second `serve` of one project (development): it runs, in memory, and says so. `start` never falls back.
      if (choice.mode === 'serve' && choice.stateDir === undefined && isEngineError(error, 'JOURNAL_LOCKED')) {
        const pid = error.data.pid;
        logger.warn('another engine of this project holds its journal; this serve keeps its queue in memory', { pid });
        return { queue: memory(), description: `embedded, in memory (pid ${pid} holds the journal)`, ready };
      }
      throw error;
    }
    const shown = relative(projectDir, journal.path) || journal.path;
    return {
      queue: new EmbeddedQueue({ ...limits, journal }),
      description: `embedded, journaled in ${shown.startsWith('..') ? journal.path : shown}`,
      ready,
    };
  }
  // Loaded only when asked for: BullMQ and ioredis add about a quarter of a second to every start-up.
  const { parseRedisUrl, preflight, RedisQueue } = await import('../engine/redis/index.js');
  const target = parseRedisUrl(choice.queue, connectionOf(choice));
  const { queueName, engine } = sharedQueueName(projectDir, choice.queueName);
  // Exit 2 now for a Redis that would evict bounties, a queue that belongs to another engine or a certificate that
  // fails; it finds a cluster too. If Redis is down, the queue checks the policy when it connects (and refuses
  // bounties meanwhile).
  await preflight(target, { queueName, engine, role: 'web', logger, timeoutMs: READY_WAIT_MS });
  // `serve` is for development: it scans too, so one process shows answers without a separate worker.
  const scans = choice.mode === 'serve' || Boolean(choice.withWorker);
  const queue = new RedisQueue({
    role: scans ? 'web+worker' : 'web',
    url: target,
    queueName,
    concurrency: limits.concurrency,
    lockDurationMs: choice.lockDuration,
    maxQueued: limits.capacity,
    maxQueuedBytes: limits.maxBytes,
    logger,
  });
  return {
    queue,
    description: queue.description,
    // The connection watcher has logged why, if it fails; serving 503s meanwhile is the intended behaviour.
    ready: () => queue.ready(READY_WAIT_MS).catch(() => {}),
  };
}
