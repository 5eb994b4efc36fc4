/**
 * The engine's defaults, in one place: the embedded engine, the Redis consumer, the worker and the CLI's help all
 * read them from here, so they cannot disagree. See docs/protocol.md for why each figure is what it is.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';

export const DEFAULTS = {
  /** Scan deadline = expiration − this, leaving time to post the answer (docs/protocol.md §6). */
  deliveryMarginMs: 2000,
  /** The webhook body cap (docs/protocol.md §12). */
  maxBodyBytes: 1024 * 1024,
  /** The artifact download cap (docs/protocol.md §10). */
  maxArtifactBytes: 64 * 1024 * 1024,
  /** Bounties allowed to wait in the queue; one more is answered 503 with Retry-After. */
  queueCapacity: 10_000,
  /**
   * Signed body bytes allowed queued or scanning (embedded queue; one more is answered 503). A parsed body takes about
   * its size in heap: 256 MiB fits the default heap of a 512 MiB container with room for scans.
   */
  maxQueuedBytes: 256 * 1024 * 1024,
  /** How long a stopping process lets scans finish: under the templates' container stop timeout (40 s), before SIGKILL. */
  shutdownGraceMs: 25_000,
  /** Outbound connect timeout (TCP and TLS handshake): well inside any scan deadline, not undici's default 10 s. */
  outboundConnectTimeoutMs: 5_000,
  /** Download idle timeout (head, or between chunks): a stalled host fails `cannot-fetch` now, not at the scan deadline. */
  downloadIdleTimeoutMs: 10_000,
  /** Connections `start` holds at once (lowered to fit `ulimit -n`); past it a new one replaces an idle or slow one. */
  maxConnections: 1024,
  /**
   * Connections from one client address (an IPv6 /64): a quarter of the cap, far more than PolySwarm needs. Behind a
   * reverse proxy every client has its address: raise it to maxConnections there (docs/protocol.md §12).
   */
  maxConnectionsPerAddress: 256,
  /** Webhook body bytes held across all requests; a body (its Content-Length, else the cap) that does not fit gets 503. */
  maxBodyBytesInFlight: 64 * 1024 * 1024,
  /** Redis job lock: a dead worker's job goes to another one within about 1.5× this. */
  lockDurationMs: 10_000,
  /**
   * An answer POST attempt may take half the time left, between these (docs/protocol.md §11): a timed-out attempt may
   * have arrived, so a slow receiver must not be taken for a lost one too soon, yet a hung one must leave time to retry.
   */
  answerAttemptMinMs: 5_000,
  answerAttemptMaxMs: 30_000,
  /** Answer posts in flight, overall and to one origin (deliverer.ts): a receiver that hangs holds at most its few. */
  answerPostsInFlight: 256,
  answerPostsPerOrigin: 8,
} as const;

/** Scans at a time when not told: one per CPU. */
export function defaultConcurrency(): number {
  return availableParallelism();
}

/**
 * Artifact temp folders are `<prefix><pid>.<run>-<random>`, so a start can remove those a killed process left
 * (runtime/sweep.ts); the run tells this process from an earlier one with the same pid (pid 1 in a container).
 */
export const ARTIFACT_DIR_PREFIX = 'polyswarm-artifact-';
export const ARTIFACT_RUN = `${process.pid}.${randomBytes(4).toString('hex')}`;
