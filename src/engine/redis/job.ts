/** A bounty job as Redis stores it, and its BullMQ id. */
import { createHash } from 'node:crypto';
import { bountyToWire, parseBountyBody } from '../../protocol/bounty.js';
import { stringifyJson } from '../../protocol/json.js';
import type { BountyJob } from '../queue.js';

/**
 * The BullMQ job id for a dedup key. BullMQ ids must not contain ':' and must not look like integers, and a
 * delivery id is arbitrary text, so it is hashed.
 */
export function jobIdFor(key: string): string {
  return `bounty-${createHash('sha256').update(key).digest('hex')}`;
}

/** A job as stored in Redis. The bounty is wire JSON text, so bigint bids and exact ids survive. */
export interface StoredJob {
  v: 1;
  key: string;
  deliveryId: string | null;
  bounty: string;
  receivedAt: number;
  /** The expiration in ms, readable without parsing the bounty (e.g. by an operator inspecting Redis). */
  expiresAt: number;
}

export function encodeJob(job: BountyJob): StoredJob {
  return {
    v: 1,
    key: job.key,
    deliveryId: job.deliveryId,
    bounty: stringifyJson(bountyToWire(job.bounty)),
    receivedAt: job.receivedAt,
    expiresAt: job.bounty.expiration.getTime(),
  };
}

/** Reads a job back from Redis; throws when it is not one we wrote (the message says why). */
export function decodeJob(data: unknown): BountyJob {
  const stored = data as Partial<StoredJob> | null;
  if (!stored || typeof stored !== 'object' || stored.v !== 1) throw new Error('not a polyswarm-engine job (no v: 1)');
  if (typeof stored.key !== 'string' || typeof stored.bounty !== 'string' || typeof stored.receivedAt !== 'number') {
    throw new Error('job data lacks key, bounty or receivedAt');
  }
  const parsed = parseBountyBody(stored.bounty);
  if (!parsed.ok) throw new Error(`job bounty is invalid: ${parsed.errors.map((e) => `${e.path || '/'} ${e.message}`).join('; ')}`);
  return { key: stored.key, deliveryId: stored.deliveryId ?? null, bounty: parsed.value, receivedAt: stored.receivedAt };
}
