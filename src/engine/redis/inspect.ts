/**
 * What a Redis server will do with the bounties it is given, read before the engine relies on it:
 * - `maxmemory-policy`: anything but `noeviction` lets Redis delete keys when it is full, and with them jobs already
 *   acknowledged (202) and the keys that keep an answer from being posted twice. The engine refuses to run on it.
 * - persistence (AOF, RDB snapshots): without either, a Redis restart loses every queued bounty and the dedup keys.
 *   The engine runs (a cache-only Redis may be a choice) but says so once.
 * - which engine a queue belongs to: a registry hash records the package name of the engine that uses each queue
 *   name, so a second engine (or a worker from another project) pointed at the same queue is refused, not fed
 *   the first engine's bounties.
 * - who else spends its memory: with `maxmemory` set, an engine refuses to start on a Redis where another engine's
 *   processes run (any database of it: memory is the server's). Each engine's budget (`maxQueuedBytes`, the memory
 *   headroom of memory.ts) counts only its own jobs, so a second engine filling Redis would leave the first one's
 *   accepted bounties without the memory to be taken by a worker.
 */
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { errorMessage } from '../../util/errors.js';
import { EngineError, isEngineError } from '../errors.js';
import type { Logger } from '../../util/logger.js';
import { DEFAULT_QUEUE_NAME } from './options.js';
import type { RedisTarget } from './target.js';

/** The registry of queue names and the engine (package name) each belongs to. */
export const QUEUE_REGISTRY = 'polyswarm-engine:queues';

/** A key every process on a queue keeps alive (the deadline watchdog refreshes it): the queue's engine is running. */
export const aliveKey = (queueName: string) => `polyswarm-engine:alive:${queueName}`;
/** How long a queue counts as in use after its last process stopped refreshing its key. */
export const ALIVE_TTL_MS = 30_000;
/** Sets the key at OOM too (a PEXPIRE, which cannot grow memory, before the SET: see budget.ts). KEYS alive; ARGV ttl. */
export const KEEP_ALIVE = "redis.call('PEXPIRE', KEYS[1], ARGV[1]); return redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])";

/** Marks `queueName` as in use for ALIVE_TTL_MS. */
export async function keepAlive(redis: Redis, queueName: string): Promise<void> {
  await redis.eval(KEEP_ALIVE, 1, aliveKey(queueName), String(ALIVE_TTL_MS));
}

/**
 * Refuses (QUEUE_SHARED) to run on a Redis with `maxmemory` where another engine's queue is in use, in any of its
 * databases; names them. The databases are read on this connection (SELECT), which is then put back.
 */
export async function refuseSharedMemory(
  redis: Redis,
  queueName: string,
  engine: string | null,
  facts: RedisFacts,
  display: string,
  db: number,
): Promise<void> {
  if (facts.maxmemory === 0) return;
  let databases = 1;
  try {
    const reply = (await redis.config('GET', 'databases')) as string[];
    databases = Math.max(1, Math.min(Number(reply[1] ?? 1) || 1, 64));
  } catch {
    databases = 1;
  }
  const others: { queueName: string; engine: string; db: number }[] = [];
  try {
    for (let other = 0; other < databases; other++) {
      if (databases > 1) await redis.select(other);
      const registry = await redis.hgetall(QUEUE_REGISTRY);
      for (const [name, owner] of Object.entries(registry)) {
        if (other === db && name === queueName) continue;
        if (owner === engine && engine !== null) continue;
        if ((await redis.exists(aliveKey(name))) === 1) others.push({ queueName: name, engine: owner, db: other });
      }
    }
  } finally {
    if (databases > 1) await redis.select(db);
  }
  if (others.length === 0) return;
  const named = others.map((o) => `${JSON.stringify(o.engine)} (queue ${o.queueName}, database ${o.db})`).join(', ');
  throw new EngineError(
    'QUEUE_SHARED',
    `Redis at ${display} has a memory limit (maxmemory ${facts.maxmemory} bytes) and another engine runs on it: ${named}. Two engines spending one memory limit could leave each other's accepted bounties unanswered`,
    { url: display, maxmemory: facts.maxmemory, others },
  );
}

export interface RedisFacts {
  /** `maxmemory-policy`, e.g. `noeviction` (null if Redis did not say). */
  policy: string | null;
  /** 0: no limit. */
  maxmemory: number;
  usedMemory: number;
  aof: boolean | null;
  /** Whether RDB snapshots are configured (`save` not empty); null when CONFIG is not allowed. */
  rdb: boolean | null;
}

function field(info: string, name: string): string | null {
  const match = new RegExp(`^${name}:(.*)$`, 'm').exec(info);
  return match ? match[1]!.trim() : null;
}

/** Reads the facts from INFO (always allowed) and CONFIG GET save (managed services may forbid it). */
export async function readFacts(redis: Redis): Promise<RedisFacts> {
  const [memory, persistence] = await Promise.all([redis.info('memory'), redis.info('persistence')]);
  let rdb: boolean | null = null;
  try {
    const save = (await redis.config('GET', 'save')) as string[];
    rdb = typeof save[1] === 'string' ? save[1].trim() !== '' : null;
  } catch {
    rdb = null;
  }
  const aof = field(persistence, 'aof_enabled');
  return {
    policy: field(memory, 'maxmemory_policy'),
    maxmemory: Number(field(memory, 'maxmemory') ?? 0),
    usedMemory: Number(field(memory, 'used_memory') ?? 0),
    aof: aof === null ? null : aof === '1',
    rdb,
  };
}

/** Why this eviction policy is refused, or null when it keeps every key. */
export function evictionRefusal(facts: RedisFacts, display: string): EngineError | null {
  if (facts.policy === null || facts.policy === 'noeviction') return null;
  return new EngineError(
    'QUEUE_EVICTS',
    `Redis at ${display} has maxmemory-policy ${facts.policy}: when it is full it deletes keys, and with them bounties already acknowledged`,
    { url: display, policy: facts.policy },
  );
}

/** Logs once that Redis keeps nothing across a restart, and what to do about it. */
export function warnIfVolatile(facts: RedisFacts, display: string, logger: Logger): void {
  if (facts.aof === true || facts.rdb === true) return;
  if (facts.aof === false && facts.rdb === null) {
    logger.warn('Redis has AOF off and would not say whether it takes snapshots: a restart may lose queued bounties', { queue: display });
    return;
  }
  logger.warn(
    'Redis does not persist (no AOF, no RDB snapshots): a Redis restart loses every queued bounty, and redeliveries are scanned again',
    {
      queue: display,
      hint: 'turn on AOF: appendonly yes (appendfsync everysec loses at most a second of writes)',
    },
  );
}

/**
 * Records that `queueName` belongs to the engine `engine` (its package name), or refuses when another engine
 * registered it. Each web process and worker calls this at start.
 */
export async function claimQueue(redis: Redis, queueName: string, engine: string, display: string, role: 'web' | 'worker'): Promise<void> {
  await redis.hsetnx(QUEUE_REGISTRY, queueName, engine);
  const owner = await redis.hget(QUEUE_REGISTRY, queueName);
  if (owner === null || owner === engine) return;
  const what = role === 'worker' ? 'this worker' : 'this web process';
  throw new EngineError(
    'QUEUE_OWNED',
    `the queue ${JSON.stringify(queueName)} on ${display} belongs to the engine ${JSON.stringify(owner)}, but ${what} runs ${JSON.stringify(engine)}: it would ${role === 'worker' ? 'scan the other engine’s bounties with this code' : 'mix its bounties with the other engine’s'}`,
    { queueName, owner, engine, role, registry: QUEUE_REGISTRY },
  );
}

/**
 * Versions before per-engine queue names all used `polyswarm-bounties`. Bounties still waiting there after an
 * upgrade would go unanswered by processes on the new name: say so, and how to drain them.
 */
async function warnIfLegacyBacklog(redis: Redis, queueName: string, logger: Logger): Promise<void> {
  if (queueName === DEFAULT_QUEUE_NAME) return;
  const waiting = await redis.llen(`bull:${DEFAULT_QUEUE_NAME}:wait`);
  if (waiting === 0) return;
  logger.warn(
    `${waiting} bounties wait in the queue ${DEFAULT_QUEUE_NAME}, which engines no longer share by default; this process uses ${queueName}`,
    {
      hint: `if they are this engine's, drain them with a worker on the queue name ${DEFAULT_QUEUE_NAME} (or run web and workers on it until you switch)`,
    },
  );
}

export interface PreflightOptions {
  queueName: string;
  /** The engine project's package name; null skips the ownership check. */
  engine: string | null;
  role: 'web' | 'worker';
  logger: Logger;
  /** How long to wait for Redis; an unreachable Redis is not an error here (the process waits for it). */
  timeoutMs: number;
}

/**
 * Checks a Redis before a process starts on it: throws QUEUE_EVICTS for an evicting policy or QUEUE_OWNED for a queue of
 * another engine, warns once when nothing persists. Resolves false (and checks nothing) when Redis cannot be
 * reached within `timeoutMs`: the process then starts and answers 503 until Redis is there.
 */
export async function preflight(target: RedisTarget, options: PreflightOptions): Promise<boolean> {
  const redis = new Redis({
    ...target.options,
    connectionName: `polyswarm-engine-check:${hostname()}:${process.pid}`,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: options.timeoutMs,
    commandTimeout: options.timeoutMs,
  });
  redis.on('error', () => {});
  try {
    try {
      await redis.connect();
    } catch (error) {
      options.logger.debug('could not check Redis at start', { queue: target.display, error: errorMessage(error) });
      return false;
    }
    try {
      const facts = await readFacts(redis);
      const refusal = evictionRefusal(facts, target.display);
      if (refusal) throw refusal;
      warnIfVolatile(facts, target.display, options.logger);
      // Reads only, before the writes below (which a full Redis refuses): a full Redis is the case it is for.
      await refuseSharedMemory(redis, options.queueName, options.engine, facts, target.display, target.options.db ?? 0);
      await keepAlive(redis, options.queueName);
      if (options.engine !== null) await claimQueue(redis, options.queueName, options.engine, target.display, options.role);
      await warnIfLegacyBacklog(redis, options.queueName, options.logger);
      return true;
    } catch (error) {
      if (isEngineError(error)) throw error;
      options.logger.debug('could not check Redis at start', { queue: target.display, error: errorMessage(error) });
      return false;
    }
  } finally {
    redis.disconnect();
  }
}
