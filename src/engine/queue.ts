/**
 * Where accepted bounties wait for a scan. The webhook app only talks to the `BountyQueue` interface, so the
 * embedded in-process queue below and the Redis queue (plugged in through `EngineOptions.queue`) are
 * interchangeable.
 */
import type { BountyData } from '../protocol/types.js';

export interface BountyJob {
  /** The dedup key: the `X-POLYSWARM-DELIVERY` id when present, else `${bounty.id}:${bounty.phase ?? ''}`. */
  key: string;
  deliveryId: string | null;
  bounty: BountyData;
  /** Date.now() when the webhook arrived. */
  receivedAt: number;
}
export type JobProcessor = (job: BountyJob) => Promise<void>;
export type EnqueueOutcome = 'accepted' | 'duplicate' | 'full';

export interface BountyQueue {
  /** Resolves once the job is stored (a 202 is only sent after that); rejects with QueueUnavailableError if it cannot be. */
  enqueue(job: BountyJob): Promise<EnqueueOutcome>;
  health(): Promise<{ ok: boolean; detail?: string }>;
  counts(): { waiting: number; active: number };
  /**
   * Stops taking jobs, hands every waiting job to `onAbandoned` (the engine answers it SKIPPED:SHUTDOWN) and waits
   * for the running ones, at most `graceMs`.
   */
  close(options: { graceMs: number; onAbandoned?: (job: BountyJob) => Promise<void> }): Promise<void>;
}

/** The queue cannot store the job (closed, or its backend is down): the app answers 503 with Retry-After. */
export class QueueUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QueueUnavailableError';
  }
}

/** The dedup key of a delivery (see BountyJob.key). */
export function jobKey(deliveryId: string | null, bounty: Pick<BountyData, 'id' | 'phase'>): string {
  return deliveryId ?? `${bounty.id}:${bounty.phase ?? ''}`;
}

export interface EmbeddedQueueOptions {
  concurrency: number;
  /** Bounties allowed to wait; one more is refused ('full'). */
  capacity: number;
  /** How many dedup keys to remember at most (default 100 000); the oldest are forgotten first. */
  maxKeys?: number;
  /** Called when the processor rejects (the pipeline should not, but a queue must survive it). */
  onError?: (error: unknown, job: BountyJob) => void;
}

/**
 * An in-process FIFO queue with a concurrency limit, a capacity and deduplication of keys until the bounty's
 * expiration. Nothing survives a restart: that is what the Redis queue is for.
 */
export class EmbeddedQueue implements BountyQueue {
  readonly #process: JobProcessor;
  readonly #concurrency: number;
  readonly #capacity: number;
  readonly #maxKeys: number;
  readonly #onError?: (error: unknown, job: BountyJob) => void;
  /** FIFO as an array plus a head index: shift() on a 10 000-item array would copy it on every dequeue. */
  #waiting: (BountyJob | undefined)[] = [];
  #head = 0;
  #active = 0;
  /** key → expiration (ms). Map keeps insertion order, so the first entries are the oldest. */
  readonly #seen = new Map<string, number>();
  #closed = false;
  #drained: (() => void)[] = [];

  constructor(processor: JobProcessor, options: EmbeddedQueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
    if (!Number.isInteger(options.capacity) || options.capacity < 0) {
      throw new RangeError(`capacity must be a non-negative integer, got ${options.capacity}`);
    }
    this.#process = processor;
    this.#concurrency = options.concurrency;
    this.#capacity = options.capacity;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#onError = options.onError;
  }

  get #length(): number {
    return this.#waiting.length - this.#head;
  }

  async enqueue(job: BountyJob): Promise<EnqueueOutcome> {
    if (this.#closed) throw new QueueUnavailableError('the queue is shutting down');
    const now = Date.now();
    const until = this.#seen.get(job.key);
    if (until !== undefined && until > now) return 'duplicate';
    if (this.#length >= this.#capacity) return 'full';
    this.#remember(job.key, job.bounty.expiration.getTime(), now);
    this.#waiting.push(job);
    // Start scans on a later turn: the 202 must not wait for (or share a tick with) a scan's synchronous work.
    setImmediate(() => this.#pump());
    return 'accepted';
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    return this.#closed ? { ok: false, detail: 'the queue is shutting down' } : { ok: true };
  }

  counts(): { waiting: number; active: number } {
    return { waiting: this.#length, active: this.#active };
  }

  async close(options: { graceMs: number; onAbandoned?: (job: BountyJob) => Promise<void> }): Promise<void> {
    this.#closed = true;
    const abandoned = this.#waiting.slice(this.#head) as BountyJob[];
    this.#waiting = [];
    this.#head = 0;
    const answerAbandoned = options.onAbandoned
      ? mapLimit(abandoned, 32, (job) => options.onAbandoned!(job).catch((error) => this.#onError?.(error, job)))
      : Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, options.graceMs));
    });
    const drained = this.#active === 0 ? Promise.resolve() : new Promise<void>((r) => this.#drained.push(r));
    await Promise.all([answerAbandoned, Promise.race([drained, grace])]);
    clearTimeout(timer);
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
    while (!this.#closed && this.#active < this.#concurrency && this.#length > 0) {
      const job = this.#waiting[this.#head]!;
      this.#waiting[this.#head++] = undefined;
      if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting = this.#waiting.slice(this.#head);
        this.#head = 0;
      }
      this.#active++;
      void this.#run(job);
    }
  }

  async #run(job: BountyJob): Promise<void> {
    try {
      await this.#process(job);
    } catch (error) {
      this.#onError?.(error, job);
    } finally {
      this.#active--;
      if (this.#active === 0 && this.#drained.length > 0) for (const r of this.#drained.splice(0)) r();
      this.#pump();
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
