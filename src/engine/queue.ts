/**
 * Where accepted bounties wait for a scan. The webhook app only talks to the `BountyQueue` interface, so the
 * embedded queue below and the Redis queue (engine/redis/) are interchangeable.
 *
 * The embedded queue keeps its promise that every 202 is answered once, before the expiration (docs/protocol.md §9):
 * - journaled (engine/journal.ts): a bounty is on disk before its 202, and a restart answers what a crash left;
 * - earliest deadline first: the bounty that must be answered soonest is scanned first;
 * - a deadline watchdog: a bounty still waiting at its scan deadline is answered `unknown` (SKIPPED:TIMEOUT) then,
 *   outside the scan slots, so scans stuck on a dead artifact host cannot starve the answers behind them;
 * - bounded by count and by bytes (one more is refused with 503 + Retry-After, before anything is stored).
 */
import type { BountyData } from '../protocol/types.js';
import { setDeadline, type DeadlineTimer } from '../util/timers.js';
import type { Journal } from './journal.js';

export interface BountyJob {
  /** The dedup key: the bounty id and phase (both signed), so a body replayed under new delivery ids is one job. */
  key: string;
  deliveryId: string | null;
  bounty: BountyData;
  /** Date.now() when the webhook arrived. */
  receivedAt: number;
  /** The signed body's size: what the queue's byte budget counts. */
  bytes?: number;
  /** The signed body, for the journal; dropped once stored. */
  body?: Uint8Array;
}

/** What a processed job came to. `retained`: not answered on purpose (shutdown); it stays in the journal. */
export type JobOutcome = 'answered' | 'delivery-failed' | 'expired' | 'retained';
export type JobProcessor = (job: BountyJob) => Promise<JobOutcome | void>;
export type EnqueueOutcome = 'accepted' | 'duplicate' | 'full';

export interface BountyQueue {
  /** Resolves once the job is stored (a 202 is only sent after that); rejects with QueueUnavailableError if it cannot be. */
  enqueue(job: BountyJob): Promise<EnqueueOutcome>;
  health(): Promise<{ ok: boolean; detail?: string }>;
  counts(): { waiting: number; active: number };
  /**
   * Stops taking jobs. With a journal, goes on scanning for at most `graceMs` and leaves what is not done then in
   * the journal for the next start; without, hands the waiting jobs to `onAbandoned` (answered SKIPPED:SHUTDOWN)
   * and waits for the running ones, at most `graceMs`.
   */
  close(options: { graceMs: number; onAbandoned?: (job: BountyJob) => Promise<unknown> }): Promise<void>;
}

/** The queue cannot store the job (closed, or its backend is down): the app answers 503 with Retry-After. */
export class QueueUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QueueUnavailableError';
  }
}

/** The dedup key of a bounty: its id and phase, both covered by the signature (the delivery id is not). */
export function jobKey(bounty: Pick<BountyData, 'id' | 'phase'>): string {
  return `${bounty.id}:${bounty.phase ?? ''}`;
}

export interface EmbeddedQueueOptions {
  concurrency: number;
  /** Bounties allowed to wait; one more is refused ('full'). */
  capacity: number;
  /** Body bytes allowed to be queued or scanning; one more is refused ('full'). Default: no byte limit. */
  maxBytes?: number;
  /** Scan deadline = expiration − this; the watchdog answers a job still waiting then. Default 0. */
  deadlineMarginMs?: number;
  /** Answers a job that reached its scan deadline while waiting (`unknown`, SKIPPED:TIMEOUT). */
  onOverdue?: (job: BountyJob) => Promise<unknown>;
  /**
   * The scan order: `deadline` (earliest first, the default) or `arrival` (first in, first out). `arrival` exists to
   * measure the choice (bench figure 9) and runs without the watchdog, which needs the earliest deadline on top.
   */
  order?: 'deadline' | 'arrival';
  /** Crash-safety: jobs are stored here before `enqueue` resolves and settled when processed. */
  journal?: Journal;
  /** How many dedup keys to remember at most (default 100 000); the oldest are forgotten first. */
  maxKeys?: number;
  /** Called when the processor, the watchdog or the journal fails (the queue survives it). */
  onError?: (error: unknown, job: BountyJob) => void;
}

interface Entry {
  job: BountyJob;
  deadline: number;
  /** What the heap orders by: the deadline (the default), or the arrival order (`order: 'arrival'`). */
  rank: number;
  seq: number;
}

/** Earlier deadline first; equal deadlines in arrival order. */
const before = (a: Entry, b: Entry) => a.rank < b.rank || (a.rank === b.rank && a.seq < b.seq);

/** A binary min-heap of entries by deadline. */
class DeadlineHeap {
  readonly #items: Entry[] = [];
  get size(): number {
    return this.#items.length;
  }
  peek(): Entry | undefined {
    return this.#items[0];
  }
  push(entry: Entry): void {
    const items = this.#items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }
  pop(): Entry | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && before(items[l]!, items[m]!)) m = l;
        if (r < items.length && before(items[r]!, items[m]!)) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m]!, items[i]!];
        i = m;
      }
    }
    return top;
  }
  drain(): BountyJob[] {
    return this.#items.splice(0).map((e) => e.job);
  }
}

/**
 * The in-process queue: earliest deadline first, a concurrency limit, a capacity in bounties and bytes, dedup of
 * keys until the bounty's expiration, a deadline watchdog, and (with a journal) crash safety.
 */
export class EmbeddedQueue implements BountyQueue {
  readonly #process: JobProcessor;
  readonly #options: EmbeddedQueueOptions;
  readonly #maxKeys: number;
  readonly #heap = new DeadlineHeap();
  #seq = 0;
  #active = 0;
  /** Jobs being answered by the watchdog (they hold no scan slot). */
  #overdue = 0;
  #bytes = 0;
  /** key → expiration (ms). Map keeps insertion order, so the first entries are the oldest. */
  readonly #seen = new Map<string, number>();
  /** No new jobs (shutting down). */
  #closed = false;
  /** No new scans either: the grace is over (journal) or the queue was handed to `onAbandoned` (memory). */
  #halted = false;
  #drained: (() => void)[] = [];
  #watchdog: { at: number; timer: DeadlineTimer } | undefined;

  constructor(processor: JobProcessor, options: EmbeddedQueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
    if (!Number.isInteger(options.capacity) || options.capacity < 0) {
      throw new RangeError(`capacity must be a non-negative integer, got ${options.capacity}`);
    }
    this.#process = processor;
    this.#options = options;
    this.#maxKeys = options.maxKeys ?? 100_000;
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
        throw new QueueUnavailableError(`cannot write the journal: ${(error as Error).message}`, { cause: error });
      }
      if (this.#closed) return 'accepted'; // stored: the next start answers it
    }
    this.#push({ ...job, body: undefined });
    return 'accepted';
  }

  /**
   * Puts back what a previous run left in the journal (or any job known to be accepted already), bypassing the
   * capacity: these were acknowledged, so they must be answered.
   */
  restore(job: BountyJob): void {
    this.#remember(job.key, job.bounty.expiration.getTime(), Date.now());
    this.#bytes += job.bytes ?? 0;
    this.#push(job);
  }

  /** Remembers answered keys from the journal, so a delivery sent again after a restart is a duplicate. */
  rememberAnswered(answered: readonly [string, number][]): void {
    const now = Date.now();
    for (const [key, until] of answered) this.#remember(key, until, now);
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    return this.#closed ? { ok: false, detail: 'the queue is shutting down' } : { ok: true };
  }

  counts(): { waiting: number; active: number } {
    return { waiting: this.#heap.size, active: this.#active + this.#overdue };
  }

  /** Body bytes queued or scanning. */
  bytes(): number {
    return this.#bytes;
  }

  async close(options: { graceMs: number; onAbandoned?: (job: BountyJob) => Promise<unknown> }): Promise<void> {
    this.#closed = true;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, options.graceMs));
    });
    const idle = () =>
      this.#active + this.#overdue === 0 && this.#heap.size === 0 ? Promise.resolve() : new Promise<void>((r) => this.#drained.push(r));
    if (this.#options.journal) {
      // Journaled: keep scanning, earliest deadline first, for the whole grace; what is left then stays on disk.
      await Promise.race([idle(), grace]);
      this.#halt();
    } else {
      // In memory: what waits is answered now (SKIPPED:SHUTDOWN); running scans get the grace.
      this.#halt();
      const waiting = this.#heap.drain();
      const abandon = options.onAbandoned
        ? mapLimit(waiting, 32, (job) => options.onAbandoned!(job).catch((error) => this.#options.onError?.(error, job)))
        : Promise.resolve();
      await Promise.race([Promise.all([abandon, idle()]), grace]);
    }
    clearTimeout(timer);
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
    setImmediate(() => this.#pump());
  }

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
    if (this.#halted) return;
    this.#answerOverdue();
    while (this.#active < this.#options.concurrency && this.#heap.size > 0) {
      const { job } = this.#heap.pop()!;
      this.#active++;
      void this.#run(job, this.#process, () => this.#active--);
    }
    this.#armWatchdog();
  }

  /** Every waiting job whose scan deadline has come is answered now, without a scan slot. */
  #answerOverdue(): void {
    const onOverdue = this.#options.onOverdue;
    if (!onOverdue || this.#options.order === 'arrival') return;
    const now = Date.now();
    while (this.#heap.size > 0 && this.#heap.peek()!.deadline <= now) {
      const { job } = this.#heap.pop()!;
      this.#overdue++;
      void this.#run(
        job,
        async (j) => (await onOverdue(j)) as JobOutcome | void,
        () => this.#overdue--,
      );
    }
  }

  #armWatchdog(): void {
    const next = this.#heap.peek();
    if (!next || !this.#options.onOverdue || this.#options.order === 'arrival') {
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

  async #run(job: BountyJob, work: JobProcessor, release: () => void): Promise<void> {
    // A processor that returns nothing, or throws, has settled the job as far as the journal goes.
    let outcome: JobOutcome | 'failed' = 'failed';
    try {
      outcome = (await work(job)) || 'answered';
    } catch (error) {
      this.#options.onError?.(error, job);
    } finally {
      release();
      this.#bytes -= job.bytes ?? 0;
    }
    // Settled: its body leaves the journal, its key stays until the expiration. Retained (shutdown): it stays. Not
    // awaited: the slot goes to the next bounty now; LMDB commits it with the other writes of this turn, and a crash
    // before that commit only means this bounty is answered again (docs/protocol.md §13).
    if (outcome !== 'retained' && this.#options.journal) {
      this.#options.journal.settle(job.key, job.bounty.expiration.getTime()).catch((error) => this.#options.onError?.(error, job));
    }
    this.#pump();
    if (this.#active + this.#overdue === 0 && (this.#halted || this.#heap.size === 0) && this.#drained.length > 0) {
      for (const r of this.#drained.splice(0)) r();
    }
  }
}

/** Runs `fn` over `items` with at most `limit` at a time (no p-limit dependency for a few lines). */
export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
