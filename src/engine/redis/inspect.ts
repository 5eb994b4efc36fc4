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
 * - whether it is a cluster node (then every key of a queue is hash-tagged into one slot: target.ts's `keyspace`), and
 *   how many replicas its master has (the web process waits for one to acknowledge each bounty: queue.ts).
 */
import { hostname } from 'node:os';
import { Cluster } from 'ioredis';
import { errorMessage } from '../../util/errors.js';
import { EngineError, isEngineError } from '../errors.js';
import type { Logger } from '../../util/logger.js';
import { connect, type RedisClient } from './connection.js';
import { DEFAULT_QUEUE_NAME } from './options.js';
import { keyspace, tlsInvalid, type RedisTarget } from './target.js';

/** The registry of queue names and the engine (package name) each belongs to. */
export const QUEUE_REGISTRY = 'polyswarm-engine:queues';

/** A key every process on a queue keeps alive (the deadline watchdog refreshes it): the queue's engine is running. */
export const aliveKey = (queueName: string) => `polyswarm-engine:alive:${queueName}`;
/** How long a queue counts as in use after its last process stopped refreshing its key. */
export const ALIVE_TTL_MS = 30_000;
/** Sets the key at OOM too (a PEXPIRE, which cannot grow memory, before the SET: see budget.ts). KEYS alive; ARGV ttl. */
export const KEEP_ALIVE = "redis.call('PEXPIRE', KEYS[1], ARGV[1]); return redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])";

export async function keepAlive(redis: RedisClient, queueName: string): Promise<void> {
  await redis.eval(KEEP_ALIVE, 1, aliveKey(queueName), String(ALIVE_TTL_MS));
}

/**
 * Refuses (QUEUE_SHARED) to run on a Redis with `maxmemory` where another engine's queue is in use, in any of its
 * databases; names them. The databases are read on this connection (SELECT), which is then put back.
 */
export async function refuseSharedMemory(
  redis: RedisClient,
  queueName: string,
  engine: string | null,
  facts: RedisFacts,
  display: string,
  db: number,
): Promise<void> {
  if (facts.maxmemory === 0) return;
  let databases = 1;
  // A cluster has one database.
  if (!(redis instanceof Cluster))
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
  /** `cluster_enabled:1`: a Redis Cluster node. */
  cluster: boolean;
  /** Replicas connected to the master (on a cluster, the fewest any master has). */
  replicas: number;
}

/** A field of an INFO reply, or null. */
export function infoField(info: string, name: string): string | null {
  const match = new RegExp(`^${name}:(.*)$`, 'm').exec(info);
  return match ? match[1]!.trim() : null;
}

/**
 * Reads the facts from INFO (always allowed) and CONFIG GET save (managed services may forbid it). On a cluster, from
 * every master: the one that would evict (or else keeps nothing) speaks for them all.
 */
export async function readFacts(redis: RedisClient): Promise<RedisFacts> {
  if (redis instanceof Cluster) {
    const all = await Promise.all(redis.nodes('master').map(readFacts));
    const worst = all.find((f) => f.policy !== null && f.policy !== 'noeviction') ?? all.find((f) => !f.aof && !f.rdb) ?? all[0]!;
    return { ...worst, replicas: Math.min(...all.map((f) => f.replicas)) };
  }
  // INFO without a section: the default ones, memory, persistence, replication and cluster among them.
  const info = await redis.info();
  let rdb: boolean | null = null;
  try {
    const save = (await redis.config('GET', 'save')) as string[];
    rdb = typeof save[1] === 'string' ? save[1].trim() !== '' : null;
  } catch {
    rdb = null;
  }
  const aof = infoField(info, 'aof_enabled');
  return {
    policy: infoField(info, 'maxmemory_policy'),
    maxmemory: Number(infoField(info, 'maxmemory') ?? 0),
    usedMemory: Number(infoField(info, 'used_memory') ?? 0),
    aof: aof === null ? null : aof === '1',
    rdb,
    cluster: infoField(info, 'cluster_enabled') === '1',
    replicas: Number(infoField(info, 'connected_slaves') ?? 0),
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
  const hint = 'turn on AOF: appendonly yes (appendfsync everysec loses at most a second of writes)';
  logger.warn(
    'Redis does not persist (no AOF, no RDB snapshots): a Redis restart loses every queued bounty, and redeliveries are scanned again',
    { queue: display, hint },
  );
}

/**
 * Records that `queueName` belongs to the engine `engine` (its package name), or refuses when another engine
 * registered it. Each web process and worker calls this at start.
 */
export async function claimQueue(
  redis: RedisClient,
  queueName: string,
  engine: string,
  display: string,
  role: 'web' | 'worker',
): Promise<void> {
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
async function warnIfLegacyBacklog(redis: RedisClient, queueName: string, logger: Logger): Promise<void> {
  if (queueName === DEFAULT_QUEUE_NAME) return;
  const waiting = await redis.llen(`bull:${DEFAULT_QUEUE_NAME}:wait`);
  if (waiting === 0) return;
  const hint = `if they are this engine's, drain them with a worker on the queue name ${DEFAULT_QUEUE_NAME} (or run web and workers on it until you switch)`;
  logger.warn(
    `${waiting} bounties wait in the queue ${DEFAULT_QUEUE_NAME}, which engines no longer share by default; this process uses ${queueName}`,
    { hint },
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
  let failure: unknown;
  const open = () => {
    const client = connect(target, {
      connectionName: `polyswarm-engine-check:${hostname()}:${process.pid}`,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      sentinelRetryStrategy: () => null,
      connectTimeout: options.timeoutMs,
      commandTimeout: options.timeoutMs,
    });
    // A cluster reports its nodes' errors apart; the first TLS one names the file at fault.
    for (const event of ['error', 'node error'])
      client.on(event, (error: unknown) => (failure = tlsFailure(error, target) ?? failure ?? error));
    return client;
  };
  let redis = open();
  try {
    try {
      await redis.connect();
      // A cluster node answers for its own slots only: the same URL then names the cluster, reached through ioredis' Cluster.
      if (!target.cluster && (await readFacts(redis)).cluster) {
        target.cluster = true;
        redis.disconnect();
        redis = open();
        await redis.connect();
      }
    } catch (error) {
      const tls = tlsFailure(failure, target) ?? tlsFailure(error, target);
      if (tls) throw tls;
      options.logger.debug('could not check Redis at start', { queue: target.display, error: errorMessage(failure ?? error) });
      return false;
    }
    const queueName = keyspace(options.queueName, target);
    try {
      const facts = await readFacts(redis);
      const refusal = evictionRefusal(facts, target.display);
      if (refusal) throw refusal;
      warnIfVolatile(facts, target.display, options.logger);
      // Reads only, before the writes below (which a full Redis refuses): a full Redis is the case it is for.
      await refuseSharedMemory(redis, queueName, options.engine, facts, target.display, target.options.db ?? 0);
      await keepAlive(redis, queueName);
      if (options.engine !== null) await claimQueue(redis, queueName, options.engine, target.display, options.role);
      await warnIfLegacyBacklog(redis, queueName, options.logger);
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

/**
 * A connection error that is a TLS certificate failure, as QUEUE_TLS_INVALID naming the file at fault: the CA file when
 * the server's certificate did not verify against it, the client certificate when the server refused ours (an alert).
 */
export function tlsFailure(error: unknown, target: RedisTarget): EngineError | null {
  if (!target.options.tls || error === undefined) return null;
  if (isEngineError(error)) return error;
  const text = `${(error as { code?: unknown }).code ?? ''} ${errorMessage(error)}`;
  // Redis (TLS 1.3) resets a connection whose client shows no certificate when it asks for one.
  const reset = /ECONNRESET/.test(text);
  if (!reset && !/CERT|SSL|TLS|certificate|self[- ]signed|alert/i.test(text)) return null;
  const ours = reset || /alert/i.test(text);
  const files = target.tlsFiles ?? {};
  const file = (ours ? files.cert : files.ca) ?? (ours ? '(none given)' : '(none given: the system’s CAs)');
  // OpenSSL's text for an alert is long; its name is what helps ("certificate required", "unknown ca").
  const alert = /alert ([a-z ]+)/i.exec(text)?.[1]?.trim();
  const why = ours
    ? `Redis at ${target.display} ended the TLS handshake (${alert ? `alert: ${alert}` : 'connection reset'})${files.cert ? '' : ': does it require a client certificate?'}`
    : `the TLS handshake with Redis at ${target.display} failed: ${errorMessage(error)}`;
  return tlsInvalid(file, ours ? 'cert' : 'ca', why);
}
