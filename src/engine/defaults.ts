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
   * Signed body bytes allowed queued or scanning (the embedded queue); one more is answered 503 with Retry-After.
   * Parsed bodies take about their own size in heap, so this bounds the queue's memory: 256 MiB fits the default
   * heap of a 512 MiB container with room for scans.
   */
  maxQueuedBytes: 256 * 1024 * 1024,
  /**
   * How long a stopping process lets running scans finish. Shorter than the stop timeout the templates give their
   * containers (40 s), so the process ends on its own before the container runtime's SIGKILL.
   */
  shutdownGraceMs: 25_000,
  /**
   * Outbound connect timeout (artifact hosts and answer receivers): a host that does not complete the TCP (and TLS)
   * handshake within this is given up on, well inside any scan deadline, instead of holding a socket for undici's
   * default 10 s.
   */
  outboundConnectTimeoutMs: 5_000,
  /**
   * Artifact download idle timeout: the longest wait for the response head or between two body chunks. A host that
   * trickles or stalls fails with `cannot-fetch` now, not at the scan deadline (which may be minutes away).
   */
  downloadIdleTimeoutMs: 10_000,
  /**
   * Connections the production server (`start`) holds at once, lowered to fit the open-file limit (`ulimit -n`).
   * Past it a new connection takes the place of an idle or slow one, from the address holding the most.
   */
  maxConnections: 1024,
  /**
   * Connections the production server holds from one client address (an IPv6 client's /64): a quarter of the global
   * cap, so one client cannot hold it all, and far more than PolySwarm needs (a 202 takes milliseconds). Behind a
   * reverse proxy every client has the proxy's address: raise it to maxConnections there (docs/protocol.md §12).
   */
  maxConnectionsPerAddress: 256,
  /**
   * Webhook body bytes held in memory across every request at once. A body is admitted only if its size (its
   * Content-Length, or the body cap when chunked) fits; otherwise it is answered 503 with Retry-After.
   */
  maxBodyBytesInFlight: 64 * 1024 * 1024,
  /** Redis job lock: a dead worker's job goes to another one within about 1.5× this. */
  lockDurationMs: 10_000,
  /**
   * An answer POST attempt may take half the time left before the expiration, at least the first and at most the
   * second of these (docs/protocol.md §11). A timed-out attempt may still have reached the receiver, so its retry can
   * be a second answer: a slow receiver must not be taken for a lost one too soon, and a hung one must still leave
   * time for a retry.
   */
  answerAttemptMinMs: 5_000,
  answerAttemptMaxMs: 30_000,
  /**
   * Answer posts in flight at once, and to one receiver origin (deliverer.ts): a finished scan frees its scan slot
   * and its answer waits for these instead, so a receiver that hangs holds at most its own few.
   */
  answerPostsInFlight: 256,
  answerPostsPerOrigin: 8,
} as const;

/** Scans at a time when not told: one per CPU. */
export function defaultConcurrency(): number {
  return availableParallelism();
}

/**
 * Temp folders holding downloaded artifacts are named `<prefix><pid>.<run>-<random>`, so a start can remove the
 * ones a killed process left (runtime/sweep.ts). The run part tells this process from an earlier one with the same
 * pid (in a container every run is pid 1).
 */
export const ARTIFACT_DIR_PREFIX = 'polyswarm-artifact-';
export const ARTIFACT_RUN = `${process.pid}.${randomBytes(4).toString('hex')}`;
