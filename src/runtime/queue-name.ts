import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { queueNameFor } from '../engine/redis/options.js';

/** `--queue-ca`, `--queue-cert`, `--queue-key` (`start`, `serve`, `worker`) and `--queue-replicas`, as resolved. */
export interface QueueConnectionConfig {
  queueCa?: string;
  queueCert?: string;
  queueKey?: string;
  queueReplicas?: number;
}

/** The queue URL's companions (TLS files, replicas), as parseRedisUrl takes them. */
export const connectionOf = (c: QueueConnectionConfig) => ({
  ca: c.queueCa,
  cert: c.queueCert,
  key: c.queueKey,
  replicas: c.queueReplicas,
});

/**
 * The Redis queue's name and the engine it belongs to: `--queue-name` if given, else the project's package name
 * (so two engines on one Redis database never share a queue), else the historical default. `engine` (the package
 * name, or null without one) is what the queue registry checks web processes and workers against.
 */
export function sharedQueueName(projectDir: string, given: string | undefined): { queueName: string; engine: string | null } {
  let engine: string | null = null;
  try {
    const pkg = JSON.parse(readFileSync(join(projectDir, 'package.json'), 'utf8')) as { name?: unknown };
    if (typeof pkg.name === 'string' && pkg.name.trim() !== '') engine = pkg.name.trim();
  } catch {
    engine = null;
  }
  return { queueName: given ?? queueNameFor(engine), engine };
}
