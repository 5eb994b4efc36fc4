/**
 * Accepted means replicated: where the master has a replica, a bounty's 202 waits (WAIT, at most REPLICA_WAIT_MS) until
 * one holds it, so a failover (Sentinel, a cluster) cannot lose a bounty already acknowledged. If none acknowledges in
 * time the answer is 503, and the job stays on the master: scanned and answered if the master lives on. PolySwarm's
 * redelivery of the 503'd bounty is its duplicate, acknowledged (202) once a replica holds the job; or, on a promoted
 * replica that never got it, stored afresh. Either way one job, one answer.
 */
import type { RedisClient } from './connection.js';

/** How long a 202 waits for replicas (WAIT): a replica on the same network answers in about a millisecond. */
export const REPLICA_WAIT_MS = 100;
/** How often a web process counts the replicas again (and on every reconnection, and after one did not acknowledge). */
export const INSPECT_EVERY_MS = 5000;

/**
 * Sets a bounty's "seen" key (`first`: this call set it) and, when `replicas` > 0, waits for that many to acknowledge,
 * in the same round trip. The PEXPIRE is a write that always replicates, so WAIT covers it and everything the master
 * did before it, whichever client wrote it (the job, a racing copy's "seen"). On a cluster the pipeline goes to the
 * node of the key's slot, the queue's, where the job's writes went.
 */
export async function markSeen(redis: RedisClient, seen: string, value: string, ttlMs: number, replicas: number) {
  const pipeline = redis.pipeline().set(seen, value, 'PX', ttlMs, 'NX');
  if (replicas > 0) pipeline.pexpire(seen, ttlMs).wait(replicas, REPLICA_WAIT_MS);
  const replies = (await pipeline.exec()) ?? [];
  for (const [error] of replies) if (error) throw error;
  return { first: replies[0]?.[1] === 'OK', acked: replicas > 0 ? Number(replies[2]?.[1] ?? 0) : 0 };
}
