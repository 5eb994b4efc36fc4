/** The post-once guard: an answer is POSTed once per job, across re-runs and workers. */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { RedisClient } from './connection.js';
import { errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import { deliverAnswer, type AnswerPost, type AnswerPoster, type AnswerPostResult } from '../deliver.js';
import { jobIdFor } from './job.js';

/** Guard keys outlive the expiration a little, so a late duplicate still finds them. */
export const GUARD_SLACK_MS = 60_000;
/** How long a guard key for a bounty expiring at `expiration` (epoch ms) lives. */
export const guardTtl = (expiration: number) => Math.max(1, expiration - Date.now()) + GUARD_SLACK_MS;
const POSTED = 'posted';
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
const RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
/*
 * The claim and the record run when Redis is at its memory limit too: an answer must not be lost, or posted twice,
 * because Redis is full. Redis refuses a script at OOM only at its first write, and only if that write is one that
 * can grow memory (SET); a PEXPIRE cannot (it only changes a TTL, here of a key that does not exist yet, or of the
 * claim about to be overwritten), so the SET after it goes through. The key is a few dozen bytes over the limit.
 */
// KEYS posted; ARGV token leaseMs → 'OK' when claimed, else the holder's value. Holding our own token is claimed too:
// Redis ran this script, the connection dropped before its reply, and ioredis sent it again on reconnecting (a Redis
// restart did exactly that): without this the worker took its own claim for another's and nobody posted the answer.
const CLAIM = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return 'OK' end
if holder then return holder end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'OK'
`;
// KEYS posted; ARGV ttlMs → records the answer as posted.
const RECORD = `
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return redis.call('SET', KEYS[1], '${POSTED}', 'PX', ARGV[1])
`;

/**
 * Guards the answer POST so that it happens once per job, across re-runs and workers.
 *
 * The trade-off: HTTP gives no exactly-once, so we choose where the gap is. Before posting, a worker claims
 * `posted:<job>` with a short lease (renewed while the post and its retries run); after a 2xx the key becomes
 * `posted` until the expiration; after a definitive failure the claim is released so a re-run may try again.
 * - A job re-run after a successful post (a stalled job whose worker did post, a duplicate re-added after trimming)
 *   finds `posted` and does not post again.
 * - A worker killed between claiming and finishing the post leaves only a lease, which expires in seconds: the
 *   re-run then posts. If the killed worker's request had already reached the receiver, that receiver sees the
 *   answer twice. We accept that (a window of one HTTP round trip) rather than the alternative, a claim held to
 *   the expiration, which would leave such a bounty unanswered: PolySwarm counts a missing answer as a failure.
 */
export class PostOnceGuard {
  readonly #redis: RedisClient;
  readonly #namespace: string;
  readonly #leaseMs: number;
  #inner: AnswerPoster;
  readonly #logger: Logger;

  constructor(redis: RedisClient, options: { namespace: string; leaseMs: number; post?: AnswerPoster; logger: Logger }) {
    this.#redis = redis;
    this.#namespace = options.namespace;
    this.#leaseMs = options.leaseMs;
    this.#inner = options.post ?? deliverAnswer;
    this.#logger = options.logger;
  }

  #key(jobKey: string): string {
    return `${this.#namespace}:posted:${jobIdFor(jobKey)}`;
  }

  /**
   * Keeps an answer in Redis until it is posted (`forget`), so the job that produced it can complete and free its
   * worker slot while the post goes on; if the process dies meanwhile, the deadline watchdog posts it (`kept`). False
   * when Redis would not take it (full): the caller then posts with the job still held, as before.
   */
  async keep(request: AnswerPost): Promise<boolean> {
    const { url, body, bountyId, key } = request;
    const kept = JSON.stringify({ url, body, expiration: request.expiration.getTime(), bountyId, key });
    const ttl = guardTtl(request.expiration.getTime());
    return (await this.#redis.set(this.#keptKey(jobIdFor(key)), kept, 'PX', ttl).catch(() => null)) === 'OK';
  }

  async forget(jobKey: string): Promise<void> {
    await this.#redis.del(this.#keptKey(jobIdFor(jobKey))).catch(() => 0);
  }

  async kept(jobId: string): Promise<AnswerPost | null> {
    const text = await this.#redis.get(this.#keptKey(jobId));
    if (text === null) return null;
    const kept = JSON.parse(text) as Omit<AnswerPost, 'expiration'> & { expiration: number };
    return { ...kept, expiration: new Date(kept.expiration) };
  }

  #keptKey(jobId: string): string {
    return `${this.#namespace}:answer:${jobId}`;
  }

  /** Posts through `inner` from now on (the engine's bounded poster: deliverer.ts). */
  through(inner: AnswerPoster): void {
    this.#inner = inner;
  }

  /** Whether an answer for this job was already posted successfully (so a re-run need not even scan). */
  async posted(jobKey: string): Promise<boolean> {
    return (await this.#redis.get(this.#key(jobKey))) === POSTED;
  }

  /** deliverAnswer behind the guard; never throws for a guard problem other than Redis itself failing. */
  readonly post: AnswerPoster = async (request, options) => {
    const key = this.#key(request.key);
    const token = `${hostname()}:${process.pid}:${randomUUID()}`;
    const claimed = await this.#redis.eval(CLAIM, 1, key, token, String(this.#leaseMs));
    if (claimed !== 'OK') {
      return {
        ok: false,
        status: null,
        attempts: 0,
        error: claimed === POSTED ? 'already answered by an earlier run; not posted again' : 'another worker is posting this answer',
      };
    }
    const renew = setInterval(
      () => {
        this.#redis.eval(RENEW, 1, key, token, String(this.#leaseMs)).catch(() => {});
      },
      Math.max(100, Math.floor(this.#leaseMs / 3)),
    );
    renew.unref();
    let result: AnswerPostResult;
    try {
      result = await this.#inner(request, options);
    } finally {
      clearInterval(renew);
    }
    if (result.ok) {
      await this.#redis.eval(RECORD, 1, key, String(guardTtl(request.expiration.getTime()))).catch((error: unknown) => {
        this.#logger.warn('could not record the answer as posted; a re-run of this job could post again', {
          bounty: request.bountyId,
          error: errorMessage(error),
        });
      });
    } else {
      await this.#redis.eval(RELEASE, 1, key, token).catch(() => {});
    }
    return result;
  };
}
