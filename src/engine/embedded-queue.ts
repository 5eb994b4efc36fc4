/**
 * The embedded queue: where accepted bounties wait for a scan in this process. It keeps its promise that every 202
 * is answered once, before the expiration (docs/protocol.md §9):
 * - journaled (engine/journal.ts): a bounty is on disk before its 202, and a restart answers what a crash left;
 * - earliest deadline first: the bounty that must be answered soonest is scanned first;
 * - a deadline watchdog: a bounty still waiting at its scan deadline is answered `unknown` (SKIPPED:TIMEOUT) then,
 *   outside the scan slots, so scans stuck on a dead artifact host cannot starve the answers behind them;
 * - bounded by count and by bytes (one more is refused with 503 + Retry-After, before anything is stored).
 */
import { SKIP } from '../protocol/answer.js';
import { idForLog, isExpired, parseBountyBody } from '../protocol/bounty.js';
import { jobKey } from '../protocol/job.js';
import { errorMessage } from '../util/errors.js';
import { createLogger, type Logger } from '../util/logger.js';
import { mapLimit } from '../util/map-limit.js';
import { setDeadline, type DeadlineTimer } from '../util/timers.js';
import { DeadlineHeap } from './deadline-heap.js';
import type { Journal } from './journal.js';
import {
  QueueUnavailableError,
  type BountyJob,
  type BountyQueue,
  type CutJobs,
  type EnqueueOutcome,
  type JobOutcome,
  type JobRunner,
  type RecoveryReport,
} from './queue.js';

export interface EmbeddedQueueOptions {
  /** Scans at a time (default os.availableParallelism()). */
  concurrency: number;
  /** Bounties allowed to wait; one more is refused ('full'). */
  capacity: number;
  /** Body bytes allowed to be queued or scanning; one more is refused ('full'). Default: no byte limit. */
  maxBytes?: number;
  /** Scan deadline = expiration − this; the watchdog answers a job still waiting then. Default 0. */
  deadlineMarginMs?: number;
  /**
   * The scan order: `deadline` (earliest first, the default) or `arrival` (first in, first out). `arrival` exists to
   * measure the choice (bench figure 9) and runs without the watchdog, which needs the earliest deadline on top.
   */
  order?: 'deadline' | 'arrival';
  /** Crash-safety: jobs are stored here before `enqueue` resolves and settled when processed; `recover()` reads it back. */
  journal?: Journal;
  /** How many dedup keys to remember at most (default 100 000); the oldest are forgotten first. */
  maxKeys?: number;
  /** Where a job or journal failure is logged (the queue survives it). Default: silent. */
  logger?: Logger;
}

/** How long `GET /` reports a failed journal write when no bounty has come since to try again. */
const WRITE_FAILURE_REPORTED_MS = 30_000;

/**
 * The in-process queue: earliest deadline first, a concurrency limit, a capacity in bounties and bytes, dedup of
 * keys until the bounty's expiration, a deadline watchdog, and (with a journal) crash safety.
 */
export class EmbeddedQueue implements BountyQueue {
  readonly description: string;
  readonly cutJobs: CutJobs;
  readonly #options: EmbeddedQueueOptions;
  readonly #maxKeys: number;
  readonly #logger: Logger;
  readonly #heap = new DeadlineHeap();
  #runner: JobRunner | undefined;
  #seq = 0;
  #active = 0;
  /** Jobs being answered by the watchdog (they hold no scan slot). */
  #overdue = 0;
  /** Jobs scanned whose answer is being posted (their scan slot went to the next job). */
  #posting = 0;
  #bytes = 0;
  /** key → expiration (ms). Map keeps insertion order, so the first entries are the oldest. */
  readonly #seen = new Map<string, number>();
  /** No new jobs (shutting down). */
  #closed = false;
  /** No new scans either: the grace is over (journal) or the queue was handed to `abandon` (memory). */
  #halted = false;
  #drained: (() => void)[] = [];
  #watchdog: { at: number; timer: DeadlineTimer } | undefined;
  #recovered = false;

  constructor(options: EmbeddedQueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
    if (!Number.isInteger(options.capacity) || options.capacity < 0) {
      throw new RangeError(`capacity must be a non-negative integer, got ${options.capacity}`);
    }
    this.#options = options;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#logger = options.logger ?? createLogger({ level: 'silent' });
    this.cutJobs = options.journal ? 'keep-cut-posts' : 'answer';
    this.description = options.journal
      ? `embedded, journaled in ${options.journal.path}`
      : 'embedded, in memory (a crash loses queued bounties)';
  }

  async enqueue(job: BountyJob): Promise<EnqueueOutcome> {
    if (this.#closed) throw new QueueUnavailableError('the queue is shutting down');
    const now = Date.now();
    const until = this.#seen.get(job.key);
    if (until !== undefined && until > now) return 'duplicate';
    const bytes = job.bytes ?? 0;
    if (this.#heap.size >= this.#options.capacity) return 'full';
    if (this.#options.maxBytes !== undefined && this.#bytes + bytes > this.#options.maxBytes && this.#bytes > 0) return 'full';
    // Claimed before the write, so a duplicate arriving meanwhile is not stored twice.
    this.#remember(job.key, job.bounty.expiration.getTime(), now);
    this.#bytes += bytes;
    if (this.#options.journal) {
      try {
        await this.#options.journal.add(job.key, {
          body: job.body ?? new Uint8Array(0),
          deliveryId: job.deliveryId,
          receivedAt: job.receivedAt,
          expiresAt: job.bounty.expiration.getTime(),
        });
      } catch (error) {
        this.#seen.delete(job.key);
        this.#bytes -= bytes;
        this.#writeFailed = { at: Date.now(), reason: errorMessage(error) };
        throw new QueueUnavailableError(`cannot write the journal: ${(error as Error).message}`, { cause: error });
      }
      this.#writeFailed = undefined;
      if (this.#closed) return 'accepted'; // stored: the next start answers it
    }
    this.#push({ ...job, body: undefined });
    return 'accepted';
  }

  start(runner: JobRunner): void {
    this.#runner = runner;
    setImmediate(() => this.#pump());
  }

  /**
   * Queues again what the journal holds from a previous run (a no-op without one), bypassing the capacity: these
   * were acknowledged, so they must be answered. Answered keys come back too, so a delivery sent again after a
   * restart is a duplicate. Call once, before `start`.
   */
  async recover(): Promise<RecoveryReport> {
    const report: RecoveryReport = { restored: 0, dropped: [], unreadable: 0 };
    const journal = this.#options.journal;
    if (!journal || this.#recovered) return report;
    this.#recovered = true;
    const { pending, answered, dropped, damaged } = await journal.recover();
    const now = Date.now();
    // Failed their checksum: removed by the journal, counted and named here, never lost silently.
    report.unreadable += damaged.length;
    for (const { key, reason } of damaged) this.#logger.error('journal record could not be read back; removed', { key, error: reason });
    for (const [key, until] of answered) this.#remember(key, until, now);
    report.dropped = dropped;
    for (const key of dropped) this.#logger.warn('bounty expired while the engine was down; no answer is due', { key });
    const removed: Promise<void>[] = [];
    for (const [key, record] of pending) {
      const parsed = parseBountyBody(record.body);
      if (!parsed.ok || jobKey(parsed.value) !== key || isExpired(parsed.value)) {
        report.unreadable++;
        this.#logger.error('journal record could not be read back; removed', {
          key,
          error: parsed.ok ? 'key or expiration mismatch' : parsed.errors[0]?.message,
        });
        removed.push(journal.settle(key, 0));
        continue;
      }
      const bounty = parsed.value;
      this.#remember(key, bounty.expiration.getTime(), now);
      this.#bytes += record.body.byteLength;
      this.#push({ key, deliveryId: record.deliveryId, bounty, receivedAt: record.receivedAt, bytes: record.body.byteLength });
      report.restored++;
    }
    await Promise.all(removed);
    if (report.restored > 0 || dropped.length > 0 || report.unreadable > 0) {
      this.#logger.info('journal recovered', {
        restored: report.restored,
        expired: dropped.length,
        unreadable: report.unreadable,
        journal: journal.path,
      });
    }
    return report;
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    if (this.#closed) return { ok: false, detail: 'the queue is shutting down' };
    // A full disk refuses bounties with 503; `GET /` says so too until a write succeeds again (or a while has passed).
    if (this.#writeFailed && Date.now() - this.#writeFailed.at < WRITE_FAILURE_REPORTED_MS)
      return { ok: false, detail: 'the journal cannot be written (is the disk full?)' };
    return { ok: true };
  }

  /** The last journal write that failed, until one succeeds. */
  #writeFailed: { at: number; reason: string } | undefined;

  counts(): { waiting: number; active: number } {
    return { waiting: this.#heap.size, active: this.#busy() };
  }

  /** Body bytes queued or scanning. */
  bytes(): number {
    return this.#bytes;
  }

  async close(options: { graceMs: number }): Promise<void> {
    this.#closed = true;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, options.graceMs));
    });
    const idle = () => (this.#busy() === 0 && this.#heap.size === 0 ? Promise.resolve() : new Promise<void>((r) => this.#drained.push(r)));
    if (this.#options.journal) {
      // Journaled: keep scanning, earliest deadline first, for the whole grace; what is left then stays on disk.
      await Promise.race([idle(), grace]);
      this.#halt();
    } else {
      // In memory: what waits is answered now (SKIPPED:SHUTDOWN); running scans get the grace.
      this.#halt();
      const waiting = this.#heap.drain();
      const runner = this.#runner;
      const abandon = runner
        ? mapLimit(waiting, 32, (job) => runner.abandon(job).catch((error) => this.#failed(error, job)))
        : Promise.resolve();
      await Promise.race([Promise.all([abandon, idle()]), grace]);
    }
    clearTimeout(timer);
    // Scans still running are cut short: kept in the journal, or answered SKIPPED:SHUTDOWN.
    this.#runner?.cut();
  }

  /** After the scanner is idle: closes the journal, which writes the settles still waiting, and waits for them. */
  async release(): Promise<void> {
    await Promise.all([this.#options.journal?.close(), ...this.#settling]);
  }

  readonly #settling = new Set<Promise<unknown>>();

  /** Jobs this queue has handed out and not yet got back: scanning, answered by the watchdog, or posting. */
  #busy(): number {
    return this.#active + this.#overdue + this.#posting;
  }

  #failed(error: unknown, job: BountyJob): void {
    this.#logger.error('job failed', { bounty: idForLog(job.bounty.id), error: errorMessage(error) });
  }

  #halt(): void {
    this.#halted = true;
    this.#watchdog?.timer.cancel();
    this.#watchdog = undefined;
  }

  #push(job: BountyJob): void {
    const deadline = job.bounty.expiration.getTime() - (this.#options.deadlineMarginMs ?? 0);
    const seq = this.#seq++;
    this.#heap.push({ job, deadline, rank: this.#options.order === 'arrival' ? seq : deadline, seq });
    // Start scans on a later turn: the 202 must not wait for (or share a tick with) a scan's synchronous work.
    if (this.#runner) this.#schedulePump();
  }

  /** A pump on the next turn; one per turn serves every bounty of a burst and every slot freed in it. */
  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(this.#scheduledPump);
  }

  #pumpScheduled = false;
  readonly #scheduledPump = () => {
    this.#pumpScheduled = false;
    this.#pump();
  };

  #remember(key: string, expiresAt: number, now: number): void {
    this.#seen.delete(key);
    this.#seen.set(key, expiresAt);
    if (this.#seen.size <= this.#maxKeys) return;
    // Sweep expired keys first; if every key is still live, forget the oldest ones.
    for (const [k, until] of this.#seen) if (until <= now) this.#seen.delete(k);
    for (const k of this.#seen.keys()) {
      if (this.#seen.size <= this.#maxKeys) break;
      this.#seen.delete(k);
    }
  }

  #pump(): void {
    const runner = this.#runner;
    if (this.#halted || !runner) return;
    this.#answerOverdue(runner);
    while (this.#active < this.#options.concurrency && this.#heap.size > 0) {
      const { job } = this.#heap.pop()!;
      this.#active++;
      // The scan slot is freed when the scan is over: the answer post waits for a post slot of its own.
      let scanning = true;
      const endScan = () => {
        if (!scanning) return;
        scanning = false;
        this.#active--;
        this.#posting++;
        // A job waiting for this slot starts on the next turn (none waiting: no turn for nothing).
        if (this.#heap.size > 0) this.#schedulePump();
      };
      void this.#run(
        job,
        () => runner.process(job, { scanned: endScan }),
        () => (scanning ? this.#active-- : this.#posting--),
      );
    }
    this.#armWatchdog();
  }

  /** Every waiting job whose scan deadline has come is answered now, without a scan slot. */
  #answerOverdue(runner: JobRunner): void {
    if (this.#options.order === 'arrival') return;
    const now = Date.now();
    while (this.#heap.size > 0 && this.#heap.peek()!.deadline <= now) {
      const { job } = this.#heap.pop()!;
      this.#overdue++;
      void this.#run(
        job,
        () => runner.abandon(job, SKIP.TIMEOUT),
        () => this.#overdue--,
      );
    }
  }

  #armWatchdog(): void {
    const next = this.#heap.peek();
    if (!next || this.#options.order === 'arrival') {
      this.#watchdog?.timer.cancel();
      this.#watchdog = undefined;
      return;
    }
    if (this.#watchdog?.at === next.deadline) return;
    this.#watchdog?.timer.cancel();
    const fire = () => {
      this.#watchdog = undefined;
      this.#pump();
    };
    this.#watchdog = { at: next.deadline, timer: setDeadline(next.deadline, fire) };
  }

  async #run(job: BountyJob, work: () => Promise<JobOutcome>, release: () => void): Promise<void> {
    // A job whose runner throws has settled as far as the journal goes.
    let outcome: JobOutcome | 'failed' = 'failed';
    try {
      outcome = await work();
    } catch (error) {
      this.#failed(error, job);
    } finally {
      release();
      this.#bytes -= job.bytes ?? 0;
    }
    // Settled: its body leaves the journal, its key stays until the expiration. Retained (shutdown): it stays. Not
    // awaited: the slot goes to the next bounty now; the journal writes it with the next accept's transaction (group
    // commit), and a crash before that commit only means this bounty is answered again (docs/protocol.md §13).
    if (outcome !== 'retained' && this.#options.journal) {
      const settle = this.#options.journal.settle(job.key, job.bounty.expiration.getTime()).catch((error: unknown) =>
        this.#logger.error('could not remove an answered bounty from the journal; the next start answers it again', {
          bounty: idForLog(job.bounty.id),
          error: errorMessage(error),
        }),
      );
      this.#settling.add(settle);
      void settle.finally(() => this.#settling.delete(settle));
    }
    this.#pump();
    if (this.#busy() === 0 && (this.#halted || this.#heap.size === 0) && this.#drained.length > 0) {
      for (const r of this.#drained.splice(0)) r();
    }
  }
}
