/** The settings shared by the Redis queue's halves (the web process's producer, the workers' consumer). */
import { DEFAULTS } from '../defaults.js';
import type { AnswerPoster } from '../deliver.js';
import type { Logger } from '../../util/logger.js';
import type { RedisTarget } from './target.js';

/**
 * The BullMQ queue name when none is given; every web process and worker of one engine must use the same. The CLI
 * names the queue after the engine project's package name instead (`queueNameFor`), so two engines on one Redis
 * database never share one.
 */
export const DEFAULT_QUEUE_NAME = 'polyswarm-bounties';

/** A valid queue name for an engine's package name (BullMQ forbids `:` in queue names). */
export function queueNameFor(packageName: string | null | undefined): string {
  const name = (packageName ?? '').trim().replace(/:/g, '-');
  return name === '' ? DEFAULT_QUEUE_NAME : name;
}

/** Why a queue name given by the user cannot be used, or null. */
export function queueNameProblem(name: string): string | null {
  if (name.trim() === '') return 'is empty';
  if (name.includes(':')) return 'contains `:` (Redis keys use it as a separator)';
  if (name.length > 200) return 'is longer than 200 characters';
  if (/\s/.test(name)) return 'contains white space';
  return null;
}
/** Default job lock: a dead worker's job is handed to another one within about 1.5× this. */
export const DEFAULT_LOCK_DURATION_MS = DEFAULTS.lockDurationMs;

/**
 * BullMQ's trimming options: at most `count` finished jobs, none older than `age` seconds. Completed jobs carry nothing
 * we need (the answer went out; the log has the rest): few, for an hour. Failed ones are worth a look: more, for a week.
 */
export function trimming(options: Pick<RedisQueueOptions, 'keepCompleted' | 'keepFailed'>) {
  return {
    removeOnComplete: { count: options.keepCompleted ?? 1000, age: 3600 },
    removeOnFail: { count: options.keepFailed ?? 5000, age: 7 * 24 * 3600 },
  };
}

export interface RedisQueueOptions {
  /** `redis://host:port[/db]` (or a parsed target). */
  url: string | RedisTarget;
  logger?: Logger;
  /** Default DEFAULT_QUEUE_NAME; web processes and workers of one engine share it. */
  queueName?: string;
  /** Scans at a time in this process, when it scans (default 1). */
  concurrency?: number;
  /**
   * How long a worker's hold on a job lasts without renewal (default 10 s). A killed worker's job goes back to the
   * queue after about 1.5× this, so keep it well under the bounties' time to expiration; too short and a worker
   * whose event loop is blocked by a CPU-bound scan loses its jobs to others (which then do not post twice).
   */
  lockDurationMs?: number;
  /** The underlying POST (default deliverAnswer); the queue puts the post-once guard in front of it. */
  post?: AnswerPoster;
  /** Completed jobs kept in Redis (default 1000, and none older than an hour). */
  keepCompleted?: number;
  /** Failed jobs kept in Redis (default 5000, and none older than a week). */
  keepFailed?: number;
  /** Jobs allowed to wait in the shared queue, across every web process (default 10 000); one more is 'full' (503). */
  maxQueued?: number;
  /** Signed body bytes allowed stored and unfinished (default 256 MiB); one more is 'full' (503). */
  maxQueuedBytes?: number;
  /** Scan deadline = expiration − this (default 2000 ms): the deadline watchdog answers jobs not started by then. */
  deadlineMarginMs?: number;
  /**
   * What this process does on the queue: `web` stores the bounties its webhook accepts (workers scan them), `worker`
   * scans them, `web+worker` both (development, or a web process that also scans). Every role runs the deadline watchdog.
   */
  role: 'web' | 'worker' | 'web+worker';
}
