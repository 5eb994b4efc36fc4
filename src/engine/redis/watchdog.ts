/**
 * The shared queue's deadline watchdog: every process on the queue (web processes and workers) looks, a few times a
 * second, for stored jobs that reach their scan deadline (expiration − delivery margin) without a worker holding
 * them — the workers are down, busy, or too few — and answers each `unknown` (SKIPPED:TIMEOUT) before its
 * expiration. Whichever process claims a job first answers it (budget.ts's overdue key, set atomically with a
 * check of the job's lock), and no worker scans it afterwards. Expired jobs are removed the same way, unanswered.
 *
 * It needs no free Redis memory: it reads, claims with a script that runs at OOM (budget.ts), and answers from the job
 * it read, through the post-once guard (whose scripts run at OOM too). A failing look (Redis down, or refusing)
 * is logged once per change with a count, and the next one waits longer (up to 5 s), so a refusing Redis costs
 * neither a log line per attempt nor a busy loop.
 */
import type { Queue } from 'bullmq';
import type { RedisClient } from './connection.js';
import { idForLog } from '../../protocol/bounty.js';
import { errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import { mapLimit } from '../../util/map-limit.js';
import type { BountyJob } from '../queue.js';
import type { Budget } from './budget.js';
import { ErrorTally } from './error-tally.js';
import { ALIVE_TTL_MS, keepAlive } from './inspect.js';
import { decodeJob } from './job.js';
import { GUARD_SLACK_MS } from './post-once.js';

/** How often a process looks for overdue jobs; an overdue answer leaves at most this after the scan deadline. */
export const WATCHDOG_INTERVAL_MS = 250;

export interface WatchdogOptions {
  redis: RedisClient;
  queueName: string;
  budget: Budget;
  /** Scan deadline = expiration − this. */
  marginMs: number;
  /** Answers a job that no worker started in time (the pipeline's `abandon(job, SKIP.TIMEOUT)`). */
  onOverdue: (job: BountyJob) => Promise<unknown>;
  /**
   * Posts the answer a worker kept for this job (scanned, its post not over: the worker died, or its receiver kept
   * failing); false when there is none. Tried before `onOverdue`: a real verdict beats `unknown`.
   */
  answerKept: (jobId: string) => Promise<boolean>;
  /** The queue, to remove an answered job from it (created lazily: BullMQ connects on creation). */
  queue: () => Queue | undefined;
  logger: Logger;
}

export class OverdueWatchdog {
  readonly #options: WatchdogOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  readonly #tally: ErrorTally;
  /** When this process last said its queue is in use (inspect.ts: engines sharing a Redis with maxmemory). */
  #aliveAt = 0;

  constructor(options: WatchdogOptions) {
    this.#options = options;
    this.#tally = new ErrorTally(options.logger, 'deadline watchdog: Redis refused a look for overdue bounties', {
      queue: options.queueName,
    });
  }

  start(): void {
    if (this.#stopped || this.#timer) return;
    const loop = () => {
      this.#running = this.#tick()
        .then(
          (looked) => {
            if (looked) this.#tally.succeeded();
          },
          (error: unknown) => this.#tally.failed(error),
        )
        .finally(() => {
          this.#running = undefined;
          if (!this.#stopped) this.#timer = setTimeout(loop, this.#tally.backoffMs(WATCHDOG_INTERVAL_MS));
        });
    };
    this.#timer = setTimeout(loop, WATCHDOG_INTERVAL_MS);
  }

  /** Stops looking; waits for the answers under way (each ends by its bounty's expiration). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One look; false when there was none (the connection is down: its watcher says so). */
  async #tick(): Promise<boolean> {
    const { redis, budget, marginMs, queueName } = this.#options;
    if (redis.status !== 'ready') return false;
    if (Date.now() - this.#aliveAt > ALIVE_TTL_MS / 3) {
      await keepAlive(redis, queueName);
      this.#aliveAt = Date.now();
    }
    const due = await budget.dueBefore(Date.now() + marginMs, 200);
    await mapLimit(due, 32, (id) => this.#answer(id));
    return true;
  }

  async #answer(id: string): Promise<void> {
    const { redis, budget, logger } = this.#options;
    const expiresAt = Number(await redis.zscore(budget.keys.held, id));
    if (!(await budget.claimOverdue(id, Math.max(0, expiresAt - Date.now()) + GUARD_SLACK_MS))) return;
    if (await this.#options.answerKept(id).catch(() => false)) {
      await budget.finish(id);
      return;
    }
    const data = await redis.hget(`${budget.keys.jobPrefix}${id}`, 'data');
    let job: BountyJob | undefined;
    try {
      job = data === null ? undefined : decodeJob(JSON.parse(data));
    } catch (error) {
      logger.error('deadline watchdog: dropping an unreadable job', { job: id, error: errorMessage(error) });
    }
    if (job) {
      // Answers `unknown` (or nothing, once expired); the pipeline logs it and says why.
      await this.#options
        .onOverdue(job)
        .catch((error: unknown) =>
          logger.error('could not answer an overdue job', { bounty: idForLog(job!.bounty.id), error: errorMessage(error) }),
        );
    }
    // A worker that takes it meanwhile sees the overdue key and does not scan it; removing it frees Redis now.
    await this.#options
      .queue()
      ?.remove(id)
      .catch(() => 0);
    await budget.finish(id);
  }
}
