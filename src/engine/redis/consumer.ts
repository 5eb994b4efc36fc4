/**
 * The consuming half of the Redis queue: a BullMQ Worker feeding jobs to the scan pipeline, with hand-back at
 * shutdown and an answer for every job BullMQ gives up on. Used by `worker` and by web processes that also scan.
 */
import { hostname } from 'node:os';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { errorComment } from '../../protocol/answer.js';
import { idForLog } from '../../protocol/bounty.js';
import { errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import type { AnswerPoster } from '../deliver.js';
import type { BountyJob, JobRunner } from '../queue.js';
import { Budget } from './budget.js';
import { closeConnection, consumerConnection, type RedisClient, watchConnection } from './connection.js';
import { decodeJob, jobIdFor } from './job.js';
import { trimming } from './options.js';
import { PostOnceGuard } from './post-once.js';
import { throttleWorkerErrors } from './worker-errors.js';
import type { RedisTarget } from './target.js';

interface RunningJob {
  phase: 'scanning' | 'delivering';
  handedBack: boolean;
  handBack: () => void;
  /** Called once its answer is kept in Redis: the job may complete and its slot go to the next one. */
  kept: () => void;
}

const HANDED_BACK = Symbol('handed back');
const KEPT = Symbol('answer kept');

export interface ConsumerOptions {
  queueName: string;
  concurrency: number;
  lockDurationMs: number;
  keepCompleted?: number;
  keepFailed?: number;
  logger: Logger;
  /** The scan core: scans each job, and answers the ones BullMQ gives up on. */
  runner: JobRunner;
  /** The POST behind the post-once guard (default deliverAnswer). */
  post?: AnswerPoster;
  /** No web process in this one (a `worker`): each job is reported as taken from the queue (the recorder's line). */
  taken: boolean;
}

/** The consuming half: a BullMQ Worker feeding jobs to the scan core, with hand-back at shutdown. */
export class Consumer {
  /** Its own connection (BullMQ's blocking commands need one); the post-once guard and a worker's watchdog use it too. */
  readonly redis: RedisClient;
  readonly #worker: Worker;
  readonly #logger: Logger;
  /** The post-once guard on this connection (the watchdog of a worker posts kept answers through it). */
  readonly guard: PostOnceGuard;
  readonly #running = new Map<string, RunningJob>();
  readonly #runner: JobRunner;
  /** Set at the end of the shutdown grace: jobs taken after it are handed back at once. */
  #handingBack = false;
  readonly #budget: Budget;
  #closing: Promise<void> | undefined;
  /** Redis did not let the worker close (down): its connection is dropped rather than quit. */
  #gaveUpClosing = false;

  constructor(target: RedisTarget, options: ConsumerOptions) {
    this.#logger = options.logger;
    this.redis = consumerConnection(target);
    watchConnection(this.redis, target, this.#logger, 'worker');
    this.#budget = new Budget(this.redis, options.queueName);
    this.guard = new PostOnceGuard(this.redis, {
      namespace: options.queueName,
      leaseMs: options.lockDurationMs,
      post: options.post,
      logger: this.#logger,
    });
    this.#runner = options.runner;
    this.#worker = new Worker(options.queueName, (job, token) => this.#process(job, token, options.taken), {
      connection: this.redis,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      // A stalled job is found by the check after its lock expired: check often enough to recover within ~1.5× the lock.
      stalledInterval: Math.max(500, Math.floor(options.lockDurationMs / 2)),
      // A job whose worker died twice is probably what kills workers; give up on it rather than loop.
      maxStalledCount: 2,
      ...trimming(options),
      name: `${hostname()}:${process.pid}`,
    });
    // Logged once per change with a count, and the worker paused a little after each: no line and no spin per retry.
    throttleWorkerErrors(this.#worker, this.#logger, () => this.#closing !== undefined);
    this.#worker.on('failed', (job, error) => {
      if (!job) return;
      // BullMQ sets finishedOn only when it gives up (no retry left, or a job that stalled too often: one whose
      // scan keeps killing its worker). Such a bounty still gets its answer, `unknown`, while unexpired.
      const gaveUp = typeof job.finishedOn === 'number';
      this.#logger.error(gaveUp ? 'job failed for good' : 'job failed; it will be retried', {
        job: job.id,
        attempts: job.attemptsMade,
        error: errorMessage(error),
      });
      if (!gaveUp) return;
      let bountyJob: BountyJob;
      try {
        bountyJob = decodeJob(job.data);
      } catch {
        return;
      }
      // Through the scan core like every other answer: logged, counted, observed (metrics, inspector, recorder).
      this.#runner
        .abandon(bountyJob, errorComment(`gave up on this bounty: ${errorMessage(error)}`))
        .catch((failure: unknown) =>
          this.#logger.error('could not answer a failed job', { bounty: idForLog(bountyJob.bounty.id), error: errorMessage(failure) }),
        )
        .finally(() => this.#finish(bountyJob.key));
    });
  }

  get active(): number {
    return this.#running.size;
  }

  /** Resolves once the worker is connected and taking jobs. */
  ready(): Promise<void> {
    return this.#worker.waitUntilReady().then(() => undefined);
  }

  /**
   * The scanner's poster: refuses jobs handed back at shutdown, then posts through the post-once guard. A scanned
   * job's answer is kept in Redis first, so the job completes and its worker slot goes to the next job while the post
   * (and its retries, to a receiver that may be failing) goes on: scan slots hold scans only (docs/protocol.md §11).
   * The job's room in the budget is freed once the post is over; a process that dies meanwhile leaves the kept
   * answer to the deadline watchdog (watchdog.ts).
   */
  readonly post: AnswerPoster = async (request, options) => {
    const running = this.#running.get(request.key);
    if (running?.handedBack) {
      return { ok: false, status: null, attempts: 0, error: 'handed back to the queue at shutdown; another worker answers' };
    }
    if (!running) return this.guard.post(request, options);
    running.phase = 'delivering';
    const kept = await this.guard.keep(request);
    if (kept) running.kept();
    try {
      return await this.guard.post(request, options);
    } finally {
      if (kept) {
        await this.guard.forget(request.key);
        await this.#finish(request.key);
      }
    }
  };

  /** The job is done with (answered, expired, given up): its room in the budget is free. */
  #finish(key: string): Promise<void> {
    return this.#budget
      .finish(jobIdFor(key))
      .catch((error: unknown) => this.#logger.debug('could not free the job’s budget', { error: errorMessage(error) }));
  }

  async #process(job: Job, token: string | undefined, taken: boolean): Promise<string> {
    let bountyJob: BountyJob;
    try {
      bountyJob = decodeJob(job.data);
    } catch (error) {
      this.#logger.error('dropping an unreadable job', { job: job.id, error: errorMessage(error) });
      if (job.id) await this.#budget.finish(job.id).catch(() => {});
      throw new UnrecoverableError(`unreadable job: ${errorMessage(error)}`);
    }
    if ((await this.#budget.start(jobIdFor(bountyJob.key))) === 'overdue') {
      this.#logger.info('answered by the deadline watchdog; not scanning', { bounty: idForLog(bountyJob.bounty.id), job: job.id });
      return 'overdue';
    }
    if (await this.guard.posted(bountyJob.key)) {
      this.#logger.info('already answered; not scanning again', {
        bounty: idForLog(bountyJob.bounty.id),
        job: job.id,
        attempt: job.attemptsStarted,
      });
      await this.#finish(bountyJob.key);
      return 'already-answered';
    }
    let resolveHandBack!: (value: typeof HANDED_BACK) => void;
    const handedBack = new Promise<typeof HANDED_BACK>((resolve) => (resolveHandBack = resolve));
    let resolveKept!: (value: typeof KEPT) => void;
    const kept = new Promise<typeof KEPT>((resolve) => (resolveKept = resolve));
    const running: RunningJob = {
      phase: 'scanning',
      handedBack: false,
      handBack: () => {
        running.handedBack = true;
        resolveHandBack(HANDED_BACK);
      },
      kept: () => resolveKept(KEPT),
    };
    this.#running.set(bountyJob.key, running);
    try {
      if (this.#handingBack) running.handBack();
      const outcome = await Promise.race([this.#runner.process(bountyJob, { taken }).then(() => 'done' as const), handedBack, kept]);
      // Its answer is kept and being posted: the job completes, the post frees the budget when it is over.
      if (outcome === KEPT) return 'posting';
      if (outcome === HANDED_BACK) {
        await job.moveToWait(token);
        await this.#budget.requeue(jobIdFor(bountyJob.key)).catch(() => {});
        this.#logger.info('job handed back to the queue', { bounty: idForLog(bountyJob.bounty.id), job: job.id });
        // Tells BullMQ the job was moved on purpose: neither completed nor failed.
        throw new WaitingError();
      }
      await this.#finish(bountyJob.key);
      return 'done';
    } finally {
      this.#running.delete(bountyJob.key);
    }
  }

  /**
   * Stops taking jobs and lets running ones finish; after `graceMs`, jobs still scanning are handed back to the
   * queue for another worker (their scans are aborted and their answers refused), while jobs already posting
   * finish (a post never runs past the bounty's expiration).
   */
  close(graceMs: number): Promise<void> {
    this.#closing ??= (async () => {
      const timer = setTimeout(
        () => {
          // Mark them first: aborting makes their scans answer SKIPPED:SHUTDOWN, which `deliver` must then refuse.
          for (const running of this.#running.values()) if (running.phase === 'scanning') running.handBack();
          this.#handingBack = true;
          this.#runner.cut();
        },
        Math.max(0, graceMs),
      );
      const closed = this.#worker.close().then(
        () => 'closed' as const,
        (error: unknown) => {
          this.#logger.warn('worker did not close cleanly', { error: errorMessage(error) });
          return 'closed' as const;
        },
      );
      // If Redis is down, BullMQ's close waits for it forever. So stop waiting 2 s after this worker holds no job
      // (finished or handed back), or 10 s after the grace period whatever it holds. Jobs still marked active then
      // go back to the queue when their locks expire (stalled-job recovery).
      const deadline = Date.now() + Math.max(0, graceMs) + 10_000;
      let idleSince: number | undefined;
      let how: 'closed' | 'timeout' = 'timeout';
      for (let done = false; !done; ) {
        const tick = new Promise<'tick'>((resolve) => setTimeout(() => resolve('tick'), 50));
        if ((await Promise.race([closed, tick])) === 'closed') {
          how = 'closed';
          break;
        }
        const now = Date.now();
        idleSince = this.#running.size === 0 ? (idleSince ?? now) : undefined;
        done = now >= deadline || (idleSince !== undefined && now - idleSince >= 2000);
      }
      clearTimeout(timer);
      if (how === 'timeout') {
        const why = 'gave up waiting for the queue to close (is Redis down?); jobs still held go back to it when their locks expire';
        this.#logger.warn(why, { held: this.#running.size });
        this.#gaveUpClosing = true;
      }
    })();
    return this.#closing;
  }

  /** Closes the connection once the scan core is idle: the answers still being posted use it (the guard). */
  async release(): Promise<void> {
    if (this.#gaveUpClosing) this.redis.disconnect();
    else await closeConnection(this.redis);
  }
}
