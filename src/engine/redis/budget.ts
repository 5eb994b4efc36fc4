/**
 * The shared queue's bookkeeping in Redis, one set of keys per queue name, changed only by the Lua scripts below
 * (each runs atomically, so web processes and workers on any machine agree):
 *
 * - `<q>:budget:waiting`: a sorted set of the jobs stored and not yet started (score: expiration). Its size is what
 *   `maxQueued` bounds, as the embedded queue bounds the bounties waiting for a scan slot.
 * - `<q>:budget:held` + `<q>:budget:bytes` + `<q>:budget:total`: every job stored and not yet finished (score:
 *   expiration), its signed body's size, and their sum. The sum is what `maxQueuedBytes` bounds.
 * - `<q>:overdue:<job>`: set by the process that answers a job no worker started before its scan deadline, so no
 *   worker scans it afterwards.
 * - `<q>:budget:admitted`: what every job stored so far cost in Redis memory (estimated, never decreased): with a
 *   reading of `used_memory` and this counter taken together (memory.ts), a web process knows what the web processes
 *   stored since, and refuses a job that would not fit (`full-memory`).
 *
 * At Redis's memory limit: every script that runs after a 202 (finish, start, requeue, the overdue claim) makes a
 * write that cannot grow memory (HDEL, ZREM, DEL) before any that can. Redis checks `maxmemory` only for a script's
 * first write (after one, it cannot stop half-way), so these scripts still run when Redis is full, and an accepted
 * bounty is still answered and freed. RESERVE is the one script that may be refused: it runs before the 202.
 *
 * Entries are removed when a job finishes; an entry whose job vanished without finishing (a process killed at the
 * wrong moment) is pruned a minute after its bounty's expiration, so the budget can only be over-counted until then.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from './connection.js';

/** How BullMQ names its keys (its default prefix): a job is the hash `bull:<queue>:<id>`, its lock `…:<id>:lock`. */
const BULL_PREFIX = 'bull';

export interface BudgetKeys {
  waiting: string;
  held: string;
  bytes: string;
  total: string;
  overduePrefix: string;
  admitted: string;
  /** BullMQ's job hash is `<jobPrefix><id>` and its lock `<jobPrefix><id>:lock`. */
  jobPrefix: string;
}

export function budgetKeys(queueName: string): BudgetKeys {
  return {
    waiting: `${queueName}:budget:waiting`,
    held: `${queueName}:budget:held`,
    bytes: `${queueName}:budget:bytes`,
    total: `${queueName}:budget:total`,
    overduePrefix: `${queueName}:overdue:`,
    admitted: `${queueName}:budget:admitted`,
    jobPrefix: `${BULL_PREFIX}:${queueName}:`,
  };
}

/** An entry whose job vanished unfinished is forgotten this long after its bounty's expiration. */
const PRUNE_AFTER_MS = 60_000;

// Removes up to 100 entries whose bounty expired before ARGV[1], with their bytes.
const PRUNE = `
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, id in ipairs(old) do
  local b = redis.call('HGET', KEYS[3], id)
  if b then redis.call('DECRBY', KEYS[4], b); redis.call('HDEL', KEYS[3], id) end
  redis.call('ZREM', KEYS[2], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
`;

/**
 * KEYS waiting held bytes total seen admitted; ARGV pruneBefore id size expiresAt maxCount maxBytes room
 * admittedThen cost perHeld → 'seen' | 'held' | 'full-count' | 'full-bytes' | 'full-memory' | 'ok'.
 * room < 0: Redis has no memory limit. Else the job fits when what was admitted since the reading (admitted −
 * admittedThen), its own cost, and what every held job still needs (perHeld each) fit in `room`.
 */
const RESERVE = `${PRUNE}
local id = ARGV[2]
if redis.call('EXISTS', KEYS[5]) == 1 then return 'seen' end
if redis.call('ZSCORE', KEYS[2], id) then return 'held' end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[5]) then return 'full-count' end
local total = tonumber(redis.call('GET', KEYS[4]) or '0')
local size = tonumber(ARGV[3])
if total > 0 and total + size > tonumber(ARGV[6]) then return 'full-bytes' end
local room = tonumber(ARGV[7])
if room >= 0 then
  local since = tonumber(redis.call('GET', KEYS[6]) or '0') - tonumber(ARGV[8])
  local need = since + tonumber(ARGV[9]) + (redis.call('ZCARD', KEYS[2]) + 1) * tonumber(ARGV[10])
  if need > room then return 'full-memory' end
end
redis.call('ZADD', KEYS[1], ARGV[4], id)
redis.call('ZADD', KEYS[2], ARGV[4], id)
redis.call('HSET', KEYS[3], id, size)
redis.call('INCRBY', KEYS[4], size)
redis.call('INCRBY', KEYS[6], ARGV[9])
return 'ok'
`;

/** KEYS waiting held bytes total; ARGV id → removes the job's entries (idempotent). Deletes first: runs at OOM. */
const FINISH = `
local id = ARGV[1]
local b = redis.call('HGET', KEYS[3], id)
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
if b then redis.call('HDEL', KEYS[3], id); redis.call('DECRBY', KEYS[4], b) end
return 1
`;

/** KEYS waiting overdue-key; ARGV id → 'overdue' when another process answered it already, else 'ok' (not waiting any more). */
const START = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 'overdue' end
redis.call('ZREM', KEYS[1], ARGV[1])
return 'ok'
`;

/** KEYS waiting held; ARGV id → a job handed back at shutdown waits again (if it is still held). Deletes first: runs at OOM. */
const REQUEUE = `
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
if score then redis.call('ZADD', KEYS[1], score, ARGV[1]) end
return 1
`;

/**
 * KEYS overdue-key lock-key waiting; ARGV id ttlMs token → 1 when this process now owns the job's overdue answer: no
 * worker holds its lock (a worker holding it answers by the deadline itself) and nobody claimed it before, or the
 * claim holds this call's token (Redis ran it, the reply was lost, ioredis sent it again: see post-once.ts). The ZREM
 * comes before the SET so that the claim runs at OOM (see the top of this file).
 */
const CLAIM_OVERDUE = `
if redis.call('GET', KEYS[1]) == ARGV[3] then return 1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
return 1
`;

/** 'seen': a duplicate of a stored bounty; 'held': a racing copy reserved it; 'full-…': no room; 'ok': reserved. */
export type Reservation = 'seen' | 'held' | 'full-count' | 'full-bytes' | 'full-memory' | 'ok';

/** Room in Redis memory (memory.ts): `room` < 0 when Redis has no limit. */
export interface MemoryRoom {
  /** maxmemory − used_memory − the fixed headroom, at the reading. */
  room: number;
  /** The `admitted` counter at the reading. */
  admittedThen: number;
  cost: number;
  /** What each stored, unfinished job may still need (its lock, guard keys, BullMQ's moves and events). */
  perHeld: number;
}

const NO_LIMIT: MemoryRoom = { room: -1, admittedThen: 0, cost: 0, perHeld: 0 };

const SCRIPTS = {
  pseBudgetReserve: { numberOfKeys: 6, lua: RESERVE },
  pseBudgetFinish: { numberOfKeys: 4, lua: FINISH },
  pseBudgetStart: { numberOfKeys: 2, lua: START },
  pseBudgetRequeue: { numberOfKeys: 2, lua: REQUEUE },
  pseBudgetClaimOverdue: { numberOfKeys: 3, lua: CLAIM_OVERDUE },
} as const;

type Scripted = { [K in keyof typeof SCRIPTS]: (...keysAndArgs: string[]) => Promise<unknown> };

/** The budget's scripts on one connection (sent once, then called by their SHA1: EVALSHA). */
export class Budget {
  readonly #redis: RedisClient;
  readonly #scripts: Scripted;
  readonly keys: BudgetKeys;

  constructor(redis: RedisClient, queueName: string) {
    this.#redis = redis;
    this.keys = budgetKeys(queueName);
    for (const [name, definition] of Object.entries(SCRIPTS)) if (!(name in redis)) redis.defineCommand(name, definition);
    this.#scripts = redis as unknown as Scripted;
  }

  #all(): string[] {
    return [this.keys.waiting, this.keys.held, this.keys.bytes, this.keys.total];
  }

  /**
   * Reserves room for a job before it is stored, in one round trip with the duplicate check: `seen` is the key
   * that marks a bounty already stored (queue.ts).
   */
  async reserve(
    id: string,
    seen: string,
    size: number,
    expiresAt: number,
    maxCount: number,
    maxBytes: number,
    memory: MemoryRoom = NO_LIMIT,
  ): Promise<Reservation> {
    // Entries are pruned a minute after their expiration: until then a watchdog removes their jobs (watchdog.ts).
    const { room, admittedThen, cost, perHeld } = memory;
    const args = [Date.now() - PRUNE_AFTER_MS, id, size, expiresAt, maxCount, maxBytes, room, admittedThen, cost, perHeld].map(String);
    return (await this.#scripts.pseBudgetReserve(...this.#all(), seen, this.keys.admitted, ...args)) as Reservation;
  }

  /** The job finished (answered, expired, given up) or was never stored: its room is free again. */
  async finish(id: string): Promise<void> {
    await this.#scripts.pseBudgetFinish(...this.#all(), id);
  }

  /** A worker starts the job: it no longer waits. 'overdue': another process answered it; do not scan it. */
  async start(id: string): Promise<'ok' | 'overdue'> {
    return (await this.#scripts.pseBudgetStart(this.keys.waiting, this.keys.overduePrefix + id, id)) as 'ok' | 'overdue';
  }

  /** A job handed back to the queue at shutdown waits again. */
  async requeue(id: string): Promise<void> {
    await this.#scripts.pseBudgetRequeue(this.keys.waiting, this.keys.held, id);
  }

  /** Jobs stored and unfinished whose expiration is before `until` (ms), at most `limit`. */
  async dueBefore(until: number, limit: number): Promise<string[]> {
    return this.#redis.zrangebyscore(this.keys.held, '-inf', String(until), 'LIMIT', 0, limit);
  }

  /** Claims the overdue answer of a job no worker holds; true when this process must answer it. */
  async claimOverdue(id: string, ttlMs: number): Promise<boolean> {
    const keys = [this.keys.overduePrefix + id, `${this.keys.jobPrefix}${id}:lock`, this.keys.waiting];
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    return (await this.#scripts.pseBudgetClaimOverdue(...keys, id, ttl, randomUUID())) === 1;
  }
}
