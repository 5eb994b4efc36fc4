/**
 * Redis connections: the web's fail-fast producer, the workers' patient consumer, and a watcher that logs each
 * outage once. Every connection is made by `connect`: one node, the master a Sentinel names, or a cluster.
 */
import { hostname } from 'node:os';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import type { RedisTarget } from './target.js';

/** A connection to one node (or a Sentinel's master) or to a cluster: the engine's code works on either. */
export type RedisClient = Redis | Cluster;

/**
 * Connects to `target` with `extra` options: through ioredis' Cluster when preflight found a cluster node there (the
 * node options, TLS included, then apply to every node, and `retryStrategy` to the cluster as a whole).
 */
export function connect(target: RedisTarget, extra: RedisOptions): RedisClient {
  if (!target.cluster) return new Redis({ ...target.options, ...extra });
  const { host, port, db: _db, ...node } = target.options;
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...rest } = extra;
  return new Cluster([{ host, port }], {
    redisOptions: { ...node, ...rest },
    clusterRetryStrategy: retryStrategy,
    enableOfflineQueue,
    lazyConnect,
    slotsRefreshTimeout: extra.connectTimeout,
  });
}

/** Reconnect quickly (Redis restarts are short) but never give up: ioredis retries for as long as we return a number. */
export const retryStrategy = (times: number) => Math.min(times * 100, 1000);

/** Errors that only say the connection is down; the connection watcher logs those once, not once per retry. */
export function isConnectionError(error: unknown): boolean {
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|Connection is closed|Stream isn't writeable|Command timed out|connect ETIMEDOUT/i.test(
    errorMessage(error),
  );
}

/** Logs a connection's ups and downs once per change, and remembers the last error for health checks. */
export function watchConnection(redis: RedisClient, target: RedisTarget, logger: Logger, role: string): { lastError(): string | null } {
  let lastError: string | null = null;
  let wasReady = false;
  let reportedDown = false;
  redis.on('ready', () => {
    if (reportedDown || wasReady) logger.info('redis reconnected', { queue: target.display, role });
    wasReady = true;
    reportedDown = false;
    lastError = null;
  });
  redis.on('error', (error: unknown) => {
    lastError = errorMessage(error);
    if (!reportedDown) logger.error('redis unavailable', { queue: target.display, role, error: lastError });
    reportedDown = true;
  });
  redis.on('close', () => {
    if (wasReady && !reportedDown && redis.status !== 'end') {
      lastError = 'connection closed';
      logger.error('redis unavailable', { queue: target.display, role, error: lastError });
      reportedDown = true;
    }
  });
  return { lastError: () => lastError };
}

/**
 * The web process's connection: no offline queue, one retry and a short command timeout, so a down (or hung)
 * Redis makes `enqueue` fail within about `commandTimeoutMs` instead of holding the webhook request.
 */
export function producerConnection(target: RedisTarget, commandTimeoutMs: number): RedisClient {
  return connect(target, {
    connectionName: `polyswarm-engine-web:${hostname()}:${process.pid}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: commandTimeoutMs,
    // How long a socket that never connected may keep the process alive once we disconnect (ioredis: 2 s).
    disconnectTimeout: 200,
    retryStrategy,
  });
}

/** A worker's connection: BullMQ needs one that waits out an outage (maxRetriesPerRequest null) rather than failing. */
export function consumerConnection(target: RedisTarget): RedisClient {
  return connect(target, {
    connectionName: `polyswarm-engine-worker:${hostname()}:${process.pid}`,
    maxRetriesPerRequest: null,
    connectTimeout: 5000,
    disconnectTimeout: 200,
    retryStrategy,
  });
}

/**
 * QUIT when connected (lets pending replies arrive), else just disconnect: a command sent while down would fail at
 * once yet leave its command-timeout timer holding the process open.
 */
export async function closeConnection(redis: RedisClient): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}
