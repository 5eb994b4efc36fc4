/**
 * Redis memory as a budget: a web process stores a bounty only when it fits under `maxmemory` with room to spare
 * for everything the bounties already accepted still need in Redis. Without this, Redis fills to its limit,
 * refuses every write (OOM under `noeviction`), and the bounties it holds can no longer be taken by a worker
 * (BullMQ's move to active writes), so they go unanswered (issue 24).
 *
 * How it stays cheap: `used_memory` is read (INFO memory, in one MULTI with the budget's `admitted` counter) every
 * REFRESH_MS and after every write error, never per request. The check itself runs in the budget's RESERVE script
 * (budget.ts), which adds what every web process of the queue admitted since that reading, so processes that read
 * at different times still agree.
 *
 * What the headroom is for: each stored, unfinished job may still need PER_HELD_BYTES (BullMQ's lock and moves, its
 * events, the post-once guard key, the overdue claim), and HEADROOM_BYTES more covers BullMQ's own keys, the
 * clients' buffers and the other web processes' admissions between two readings. If Redis still fills (another
 * client writes to it), the paths after a 202 do not need the headroom to answer: the budget's and the post-once
 * guard's scripts run at OOM (budget.ts), and the deadline watchdog answers what no worker could take.
 */
import type { RedisClient } from './connection.js';
import type { MemoryRoom } from './budget.js';
import { infoField } from './inspect.js';

/** How often `used_memory` is read while the connection is up. */
export const REFRESH_MS = 250;
/** A reading older than this is refreshed before a bounty is admitted on it (the timer may have been held up). */
const STALE_MS = 2000;
/** What storing a body of `bytes` costs: the job hash (allocator rounding up to 1.25×, BullMQ's fields) and its events. */
export const costOf = (bytes: number) => Math.ceil(bytes * 1.5) + 4096;
/** What a job stored and not finished may still need in Redis until it is answered. */
export const PER_HELD_BYTES = 4096;
/**
 * Fixed headroom under maxmemory: at least 1 MiB, and 10 % of maxmemory. Measured on Redis 7.0: a BullMQ worker
 * that connects and takes its first job adds about 0.5 MB (its connections' buffers, BullMQ's scripts and keys),
 * a producer about 0.35 MB; a worker started while Redis is at its budget must still be able to take jobs.
 */
export const headroomFor = (maxmemory: number) => Math.max(1024 * 1024, Math.ceil(maxmemory / 10));

export interface MemoryReading {
  maxmemory: number;
  usedMemory: number;
  admitted: number;
  at: number;
}

/** A cached reading of Redis memory, refreshed on a short interval and on demand. */
export class MemoryGauge {
  readonly #redis: RedisClient;
  readonly #admittedKey: string;
  #reading: MemoryReading | null = null;
  #refreshing: Promise<MemoryReading> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(redis: RedisClient, admittedKey: string) {
    this.#redis = redis;
    this.#admittedKey = admittedKey;
  }

  /** Reads every REFRESH_MS while the connection is ready; the timer does not keep the process alive. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#redis.status === 'ready') this.refresh().catch(() => {});
    }, REFRESH_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  get reading(): MemoryReading | null {
    return this.#reading;
  }

  /** Reads now (one INFO memory and one GET, in one MULTI so they agree); concurrent callers share one read. */
  refresh(): Promise<MemoryReading> {
    this.#refreshing ??= (async () => {
      try {
        const replies = await this.#redis.multi().info('memory').get(this.#admittedKey).exec();
        if (!replies) throw new Error('the memory reading was aborted');
        for (const [error] of replies) if (error) throw error;
        const info = String(replies[0]![1]);
        this.#reading = {
          maxmemory: Number(infoField(info, 'maxmemory') ?? 0),
          usedMemory: Number(infoField(info, 'used_memory') ?? 0),
          admitted: Number(replies[1]![1] ?? 0),
          at: Date.now(),
        };
        return this.#reading;
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /** The room for a job of `bytes` under the latest reading (read first when there is none or it is stale). */
  async roomFor(bytes: number): Promise<MemoryRoom> {
    let reading = this.#reading;
    if (!reading || Date.now() - reading.at > STALE_MS) reading = await this.refresh();
    if (reading.maxmemory === 0) return { room: -1, admittedThen: 0, cost: 0, perHeld: 0 };
    return {
      room: Math.max(0, reading.maxmemory - reading.usedMemory - headroomFor(reading.maxmemory)),
      admittedThen: reading.admitted,
      cost: costOf(bytes),
      perHeld: PER_HELD_BYTES,
    };
  }

  /** Whether the latest reading shows Redis at (or within its headroom of) its limit: `GET /` says so. */
  nearLimit(): boolean {
    const reading = this.#reading;
    return reading !== null && reading.maxmemory > 0 && reading.usedMemory + headroomFor(reading.maxmemory) >= reading.maxmemory;
  }
}
