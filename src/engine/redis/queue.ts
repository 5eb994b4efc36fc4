/**
 * The shared queue: BullMQ on Redis, so one web process can accept bounties and any number of worker processes,
 * on any number of machines, can scan them. It implements the same `BountyQueue` interface as the embedded queue.
 *
 * Guarantees, and how:
 * - A 202 only for a stored bounty: the web's Redis connection fails fast (no offline queue, short command
 *   timeout), so `enqueue` rejects with QueueUnavailableError (→ 503 + Retry-After) rather than waiting.
 * - One job per delivery: the BullMQ job id is derived from the dedup key, and a "seen" key (kept until the
 *   bounty's expiration) tells a duplicate apart even after its job was trimmed.
 * - At-least-once processing: a short job lock; a worker that dies (SIGKILL) stops renewing it and BullMQ's
 *   stalled-job check hands the job to another worker.
 * - The answer posted once: a "posted" key per job guards the POST, so a job re-run after a successful post
 *   does not post again (see PostOnceGuard for the trade-off).
 * - Bounded: at most `maxQueued` jobs waiting and `maxQueuedBytes` of bodies stored, across every web process
 *   (budget.ts, checked atomically before a job is stored); one more is 'full' (503 + Retry-After). Completed and
 *   failed jobs are trimmed by count and age; guard keys expire with the bounty.
 * - Nothing evicted: a Redis whose maxmemory-policy would delete keys is refused (inspect.ts), at start and after
 *   every reconnection.
 * - Memory a budget, not a cliff: a bounty is stored only if it fits under Redis's `maxmemory` with headroom for
 *   what the bounties already accepted still need (memory.ts); else 503 + Retry-After. What runs after a 202 does
 *   not depend on that headroom to answer: those scripts run at OOM (budget.ts, post-once.ts).
 * - Answered in time: every process on the queue runs a deadline watchdog that answers jobs no worker started by
 *   their scan deadline (watchdog.ts).
 * - Accepted means replicated: with a replica, the 202 waits until it holds the bounty (replication.ts).
 * - One slot on a cluster: a queue's keys are hash-tagged (target.ts), for BullMQ's and the budget's scripts.
 * - Nothing internal in a reply: 503 bodies and `GET /` say what is wrong (unreachable, out of memory), never the
 *   URL or Redis's own error text; the log has those.
 */
import { Queue } from 'bullmq';
import { SKIP } from '../../protocol/answer.js';
import { idForLog } from '../../protocol/bounty.js';
import { ABORTED, raceSignal } from '../../util/abort.js';
import { errorMessage } from '../../util/errors.js';
import { createLogger, type Logger } from '../../util/logger.js';
import { DEFAULTS } from '../defaults.js';
import type { AnswerPoster } from '../deliver.js';
import { QueueUnavailableError, type BountyJob, type BountyQueue, type EnqueueOutcome, type JobRunner } from '../queue.js';
import { Budget } from './budget.js';
import { closeConnection, isConnectionError, producerConnection, type RedisClient, watchConnection } from './connection.js';
import { Consumer } from './consumer.js';
import { evictionRefusal, readFacts } from './inspect.js';
import { encodeJob, jobIdFor } from './job.js';
import { MemoryGauge } from './memory.js';
import { DEFAULT_LOCK_DURATION_MS, DEFAULT_QUEUE_NAME, trimming, type RedisQueueOptions } from './options.js';
import { guardTtl, PostOnceGuard } from './post-once.js';
import { INSPECT_EVERY_MS, markSeen, REPLICA_WAIT_MS } from './replication.js';
import { keyspace, parseRedisUrl, type RedisTarget } from './target.js';
import { OverdueWatchdog } from './watchdog.js';

/** How long `GET /` reports out-of-memory after a bounty was refused for it (the 503's Retry-After is 5 s). */
const OOM_REPORTED_MS = 10_000;

/** The web side of a process on the queue: its fail-fast connection and what it needs to store bounties. */
interface WebSide {
  redis: RedisClient;
  state: { lastError(): string | null };
  budget: Budget;
  guard: PostOnceGuard;
  memory: MemoryGauge;
}

/**
 * A BountyQueue on Redis, in one of three roles (`RedisQueueOptions.role`): a web process that stores bounties for
 * the workers, a worker that scans them, or both. Whatever the role, `start(runner)` hands the queue's jobs and its
 * overdue answers to the scan core, and `post` is the post-once guard.
 */
export class RedisQueue implements BountyQueue {
  readonly description: string;
  /** A job cut at shutdown is handed back to the queue for another worker; posts under way finish. */
  readonly cutJobs = 'keep' as const;
  /** A web process whose workers scan: they post the answers, under their own egress policy. */
  readonly postsElsewhere: boolean;
  readonly #options: RedisQueueOptions;
  readonly #target: RedisTarget;
  readonly #logger: Logger;
  readonly #queueName: string;
  readonly #lockDurationMs: number;
  readonly #web: WebSide | undefined;
  #consumer: Consumer | undefined;
  #watchdog: OverdueWatchdog | undefined;
  /** The BullMQ queue, created on the web connection's first success (BullMQ's own start-up waits otherwise). */
  #queue: Queue | undefined;
  #closed = false;
  /** Set when Redis (re)connects with an evicting policy: nothing is stored until it is fixed. */
  #refusal: string | null = null;
  /** The last internal error logged, so an outage is logged once, not once per refused bounty. */
  #lastLogged: string | null = null;
  /**
   * When a bounty was last refused for memory (a write failed with OOM, or it would not fit). Redis is then at its
   * limit, yet INFO may show it just under (the refused command's own buffer is freed), so `GET /` reports it for a
   * while after.
   */
  #oomAt = 0;
  /** Whether bounties are being refused because Redis memory is at its budget (logged once per change). */
  #memoryFull = false;
  /** Replicas the master had at the last look (#inspect; null before it), and when that was. */
  #replicas: number | null = null;
  #inspectedAt = 0;

  constructor(options: RedisQueueOptions) {
    this.#options = options;
    this.#target = typeof options.url === 'string' ? parseRedisUrl(options.url) : options.url;
    this.#logger = options.logger ?? createLogger({ level: 'silent' });
    this.#queueName = keyspace(options.queueName ?? DEFAULT_QUEUE_NAME, this.#target);
    this.#lockDurationMs = options.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS;
    const roleText = { web: 'web only: workers scan', worker: 'worker', 'web+worker': 'scanning in this process too' }[options.role];
    this.description = `redis ${this.#target.display} (${this.#target.cluster ? 'cluster, ' : ''}${roleText}; queue ${options.queueName ?? DEFAULT_QUEUE_NAME})`;
    this.postsElsewhere = options.role === 'web';
    if (options.role === 'worker') return;
    // The web's fail-fast budget for one Redis command.
    const redis = producerConnection(this.#target, 2000);
    const budget = new Budget(redis, this.#queueName);
    this.#web = {
      redis,
      state: watchConnection(redis, this.#target, this.#logger, 'web'),
      budget,
      guard: new PostOnceGuard(redis, {
        namespace: this.#queueName,
        leaseMs: this.#lockDurationMs,
        post: options.post,
        logger: this.#logger,
      }),
      memory: new MemoryGauge(redis, budget.keys.admitted),
    };
    this.#web.memory.start();
    redis.on('ready', () => {
      if (this.#closed) return;
      void this.#inspect();
      if (this.#queue) return;
      this.#queue = new Queue(this.#queueName, { connection: redis });
      this.#queue.on('error', (error) => {
        if (!isConnectionError(error)) this.#logger.error('queue error', { error: errorMessage(error) });
      });
    });
  }

  /** The URL with the password masked. */
  get display(): string {
    return this.#target.display;
  }

  /**
   * Posts through the post-once guard, and `inner` behind it: the consumer's (which keeps a scanned job's answer in
   * Redis and refuses jobs handed back at shutdown), else the web side's.
   */
  postThrough(inner: AnswerPoster): AnswerPoster {
    this.#inner = inner;
    this.#web?.guard.through(inner);
    return (request, options) => (this.#consumer ? this.#consumer.post(request, options) : this.#web!.guard.post(request, options));
  }

  /** The POST behind the guard (postThrough's `inner`; before it, the options' own). */
  #inner: AnswerPoster | undefined;

  /**
   * Starts the deadline watchdog (every role runs one) and, in a role that scans, the consumer. Both hand their jobs
   * to `runner`: a job BullMQ gives up on is answered through it too.
   */
  start(runner: JobRunner): void {
    if (this.#closed || this.#watchdog) return;
    const scans = this.#options.role !== 'web';
    if (scans) {
      this.#consumer = new Consumer(this.#target, {
        queueName: this.#queueName,
        concurrency: this.#options.concurrency ?? 1,
        lockDurationMs: this.#lockDurationMs,
        keepCompleted: this.#options.keepCompleted,
        keepFailed: this.#options.keepFailed,
        logger: this.#logger,
        runner,
        post: this.#inner ?? this.#options.post,
        taken: this.#options.role === 'worker',
      });
    }
    // The watchdog looks through the web connection where there is one, else through the worker's.
    const redis = this.#web?.redis ?? this.#consumer!.redis;
    const budget = this.#web?.budget ?? new Budget(redis, this.#queueName);
    this.#watchdog = new OverdueWatchdog({
      redis,
      queueName: this.#queueName,
      budget,
      marginMs: this.#options.deadlineMarginMs ?? DEFAULTS.deliveryMarginMs,
      onOverdue: (job: BountyJob) => runner.abandon(job, SKIP.TIMEOUT),
      answerKept: (jobId) => this.#answerKept(jobId),
      queue: () => (this.#queue ??= new Queue(this.#queueName, { connection: redis })),
      logger: this.#logger,
    });
    this.#watchdog.start();
  }

  /** Posts the answer a worker kept for `jobId` and did not finish posting (it died); false when there is none. */
  async #answerKept(jobId: string): Promise<boolean> {
    const guard = this.#consumer?.guard ?? this.#web!.guard;
    const kept = await guard.kept(jobId);
    if (!kept) return false;
    const posted = await guard.post(kept);
    this.#logger.info('answer kept by a worker, posted by the deadline watchdog', {
      bounty: idForLog(kept.bountyId),
      delivery: posted.ok ? posted.status : (posted.error ?? posted.status),
      attempts: posted.attempts,
    });
    if (posted.ok) await guard.forget(kept.key);
    return true;
  }

  /** Checks the eviction policy, counts the replicas: on every (re)connection and every INSPECT_EVERY_MS (a failover). */
  async #inspect(): Promise<void> {
    this.#inspectedAt = Date.now();
    try {
      const facts = await readFacts(this.#web!.redis);
      this.#replicas = facts.replicas;
      const unknown = facts.cluster && !this.#target.cluster && new Error(`${this.#target.display} is a cluster: restart this process`);
      const refusal = unknown || evictionRefusal(facts, this.#target.display);
      if (refusal && this.#refusal === null) this.#logger.error('refusing bounties: Redis would evict them', { error: refusal.message });
      else if (!refusal && this.#refusal !== null)
        this.#logger.info('Redis no longer evicts keys; taking bounties again', { queue: this.#target.display });
      this.#refusal = refusal ? refusal.message : null;
    } catch (error) {
      this.#replicas ??= 0;
      this.#logger.debug('could not read the Redis configuration', { error: errorMessage(error) });
    }
  }

  /** Logs an internal error once per change; returns what a caller may be told (no URL, no Redis error text). */
  #unavailable(error: unknown): QueueUnavailableError {
    const message = errorMessage(error);
    const oom = /\bOOM\b/.test(message);
    if (oom) this.#oomAt = Date.now();
    // The reading the next bounty is admitted on must show what just failed.
    void this.#web?.memory.refresh().catch(() => {});
    if (message !== this.#lastLogged) {
      this.#lastLogged = message;
      this.#logger.error(oom ? 'Redis is out of memory; bounties are refused with 503' : 'could not store a bounty in Redis', {
        queue: this.#target.display,
        error: message,
      });
    }
    return new QueueUnavailableError(oom ? 'the shared queue is out of memory' : 'the shared queue is unreachable', { cause: error });
  }

  /** Resolves once Redis answered (and the consumer, if any, is taking jobs); rejects after `timeoutMs` (default: never). */
  async ready(timeoutMs?: number): Promise<void> {
    const web = this.#web;
    const connected = new Promise<void>((resolve) => {
      if (!web || web.redis.status === 'ready') resolve();
      else web.redis.once('ready', () => resolve());
    });
    const both = Promise.all([connected, this.#consumer?.ready()]);
    const signal = timeoutMs === undefined ? new AbortController().signal : AbortSignal.timeout(timeoutMs);
    if ((await raceSignal(signal, () => both)) !== ABORTED) return;
    const why = web?.state.lastError() ?? 'no connection yet';
    throw new QueueUnavailableError(`Redis at ${this.#target.display} did not answer within ${timeoutMs} ms: ${why}`);
  }

  async enqueue(job: BountyJob): Promise<EnqueueOutcome> {
    const web = this.#web;
    if (!web) throw new QueueUnavailableError('a worker does not take bounties from a webhook');
    if (this.#closed) throw new QueueUnavailableError('the queue is shutting down');
    if (this.#refusal !== null) throw new QueueUnavailableError('the shared queue’s Redis would evict bounties (maxmemory-policy)');
    if (Date.now() - this.#inspectedAt > INSPECT_EVERY_MS) void this.#inspect();
    const queue = this.#queue;
    if (!queue || web.redis.status !== 'ready')
      throw this.#unavailable(new Error(web.state.lastError() ?? `connection ${web.redis.status}`));
    const id = jobIdFor(job.key);
    const seen = `${this.#queueName}:seen:${id}`;
    const expiresAt = job.bounty.expiration.getTime();
    const maxQueued = this.#options.maxQueued ?? DEFAULTS.queueCapacity;
    const maxQueuedBytes = this.#options.maxQueuedBytes ?? DEFAULTS.maxQueuedBytes;
    let reserved = false;
    try {
      // Room first, atomically across web processes, in the queue's budget and in Redis memory (memory.ts). 'seen':
      // stored before (possibly done and trimmed), a duplicate with nothing to add again; 'held': a racing copy
      // reserved it, and adding again is a no-op.
      const memory = await web.memory.roomFor(job.bytes ?? 0);
      const room = await web.budget.reserve(id, seen, job.bytes ?? 0, expiresAt, maxQueued, maxQueuedBytes, memory);
      if (room !== 'seen') {
        this.#memoryRefusal(room === 'full-memory');
        if (room === 'full-memory') {
          this.#oomAt = Date.now();
          throw new QueueUnavailableError('the shared queue is out of memory');
        }
        if (room === 'full-count' || room === 'full-bytes') {
          this.#logger.debug('shared queue full', room === 'full-count' ? { max_queued: maxQueued } : { max_queued_bytes: maxQueuedBytes });
          return 'full';
        }
        reserved = room === 'ok';
        // Adding an existing job id is a no-op in BullMQ, so two racing deliveries still make one job.
        await queue.add('bounty', encodeJob(job), {
          jobId: id,
          attempts: 3,
          backoff: { type: 'fixed', delay: 1000 },
          ...trimming(this.#options),
        });
      }
      // Recorded only once the job is stored, so "seen" never stands for a bounty Redis does not hold. Of two racing
      // deliveries, the one that sets it is 'accepted'. A duplicate too waits for a replica (its first copy got a 503?).
      const first = await this.#acknowledged(seen, job.deliveryId ?? '1', guardTtl(expiresAt));
      this.#lastLogged = null;
      this.#oomAt = 0;
      return room !== 'seen' && first ? 'accepted' : 'duplicate';
    } catch (error) {
      if (error instanceof QueueUnavailableError) throw error;
      if (reserved) await web.budget.finish(id).catch(() => {});
      throw this.#unavailable(error);
    }
  }

  /** markSeen (replication.ts), the replicas counted first if not yet (just connected); 503 when too few acknowledged. */
  async #acknowledged(seen: string, value: string, ttl: number): Promise<boolean> {
    if (this.#target.replicas === undefined && this.#replicas === null) await this.#inspect();
    const wanted = this.#target.replicas ?? Math.min(1, this.#replicas ?? 0);
    const { first, acked } = await markSeen(this.#web!.redis, seen, value, ttl, wanted);
    if (acked < wanted) {
      void this.#inspect();
      const message = `${acked} of ${wanted} replicas acknowledged a bounty within ${REPLICA_WAIT_MS} ms; it is answered 503`;
      if (message !== this.#lastLogged) this.#logger.warn(message, { queue: this.#target.display });
      this.#lastLogged = message;
      throw new QueueUnavailableError('the shared queue could not replicate the bounty in time');
    }
    return first;
  }

  /** Logs once when Redis memory starts refusing bounties, once when it takes them again. */
  #memoryRefusal(full: boolean): void {
    if (full === this.#memoryFull) return;
    this.#memoryFull = full;
    const reading = this.#web?.memory.reading;
    const fields = { queue: this.#target.display, used_memory: reading?.usedMemory, maxmemory: reading?.maxmemory };
    if (full) this.#logger.warn('Redis memory is at its budget: bounties are refused with 503 until answered ones free it', fields);
    else this.#logger.info('Redis memory has room again: taking bounties', fields);
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    const web = this.#web;
    if (this.#closed) return { ok: false, detail: 'the queue is shutting down' };
    if (!web) return { ok: true };
    if (this.#refusal !== null) return { ok: false, detail: 'the shared queue’s Redis would evict bounties (maxmemory-policy)' };
    try {
      if (web.redis.status !== 'ready') throw new Error(web.state.lastError() ?? `connection ${web.redis.status}`);
      // The cached reading (memory.ts), not an INFO per request.
      const reading = web.memory.reading;
      if (!reading || Date.now() - reading.at > 2000) await web.memory.refresh();
      if (web.memory.nearLimit() || Date.now() - this.#oomAt < OOM_REPORTED_MS)
        return { ok: false, detail: 'the shared queue is out of memory' };
      return { ok: true };
    } catch (error) {
      // The connection watcher logged why; an unauthenticated caller learns only that it is down.
      this.#logger.debug('health: Redis unavailable', { error: errorMessage(error) });
      return { ok: false, detail: 'the shared queue is unreachable' };
    }
  }

  /** This process's share: jobs it is scanning. The backlog itself lives in Redis, shared by every worker. */
  counts(): { waiting: number; active: number } {
    return { waiting: 0, active: this.#consumer?.active ?? 0 };
  }

  /**
   * Stops taking bounties and jobs. Waiting jobs stay in Redis for the workers; this process's running scans finish,
   * or are handed back after `graceMs` (the consumer cuts them then).
   */
  async close(options: { graceMs: number }): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#watchdog?.stop();
    await this.#consumer?.close(options.graceMs);
  }

  /** Closes the connections once the scan core is idle (its last answers may still be posting through the guard). */
  async release(): Promise<void> {
    await this.#consumer?.release();
    await this.#queue?.close().catch(() => {});
    this.#web?.memory.stop();
    if (this.#web) await closeConnection(this.#web.redis);
  }
}
