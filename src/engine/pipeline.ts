/**
 * The scan pipeline: what happens to one dequeued bounty. Whatever the author's code does (throws, hangs, ignores
 * its abort signal, returns junk), every accepted, unexpired bounty gets exactly one answer, posted before its
 * expiration (docs/protocol.md §13).
 */
import { buildAnswer, errorComment, normalizeScanResult, serializeAnswer, SKIP, unknownResult } from '../protocol/answer.js';
import { defaultBid, finalBid } from '../protocol/bid.js';
import type { ScanResult } from '../protocol/types.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { setDeadline } from '../util/timers.js';
import { deliverAnswer, type DeliverFunction, type AnswerPostResult } from './deliver.js';
import { createArtifactAccess } from './download.js';
import { isExpired } from '../protocol/bounty.js';
import { DEFAULTS } from './defaults.js';
import type { EngineObserver } from './observer.js';
import type { BountyJob, JobOutcome } from './queue.js';
import { scanErrorComments, scanErrorKind } from './scan-errors.js';
import { authorFrame } from '../util/stack.js';
import { ArtifactError, type ArtifactErrorReason, type Bounty, type ScanContext, type ScanModule } from './types.js';

export interface PipelineDeps {
  /** Called once per bounty, so a hot reload takes effect from the next bounty on. */
  module: () => ScanModule;
  deliver?: DeliverFunction;
  /** Scan deadline = expiration − this (default DEFAULTS.deliveryMarginMs), leaving time to post the answer. */
  deliveryMarginMs?: number;
  maxArtifactBytes?: number;
  logger: Logger;
  /**
   * Fires when the engine gives up waiting for running scans at shutdown. With `retainOnShutdown` (a journaled
   * queue) their jobs are left unanswered for the next start; without, they are answered SKIPPED:SHUTDOWN.
   */
  shutdownSignal?: AbortSignal;
  retainOnShutdown?: boolean;
  onOutcome?: (outcome: JobOutcome, job: BountyJob) => void;
  /** Told about every answer and every scan that failed (metrics, the inspector, the recorder). */
  observer?: EngineObserver;
}

export interface Pipeline {
  /** Scans one job and answers it (or says why not). */
  process(job: BountyJob): Promise<JobOutcome>;
  /** Answers a job that will not be scanned with `unknown` and `comment` (default SKIPPED:SHUTDOWN). */
  abandon(job: BountyJob, comment?: string): Promise<JobOutcome>;
}

const SKIP_FOR: Record<ArtifactErrorReason, string> = {
  'cannot-fetch': SKIP.CANNOT_FETCH,
  'egress-refused': SKIP.EGRESS_REFUSED,
  'too-large': SKIP.TOO_LARGE,
  'hash-mismatch': SKIP.HASH_MISMATCH,
  timeout: SKIP.TIMEOUT,
  unsupported: SKIP.TYPE_UNSUPPORTED,
};

/** An ArtifactError, also one thrown by another copy of this package (an engine project's own node_modules). */
function artifactReason(error: unknown): ArtifactErrorReason | null {
  if (error instanceof ArtifactError) return error.reason;
  const e = error as { name?: unknown; reason?: unknown } | null;
  if (e && e.name === 'ArtifactError' && typeof e.reason === 'string' && e.reason in SKIP_FOR) {
    return e.reason as ArtifactErrorReason;
  }
  return null;
}

const ABORTED = Symbol('aborted');

/** Resolves ABORTED when the signal fires; the scan is not awaited after that (it may ignore its signal). */
function whenAborted(signal: AbortSignal): { promise: Promise<typeof ABORTED>; dispose(): void } {
  let dispose = () => {};
  const promise = new Promise<typeof ABORTED>((resolve) => {
    if (signal.aborted) return resolve(ABORTED);
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    dispose = () => signal.removeEventListener('abort', onAbort);
  });
  return { promise, dispose: () => dispose() };
}

/** Builds the processor plus the shutdown path that answers never-scanned jobs. */
export function createPipeline(deps: PipelineDeps): Pipeline {
  const deliver = deps.deliver ?? deliverAnswer;
  const margin = deps.deliveryMarginMs ?? DEFAULTS.deliveryMarginMs;
  const maxBytes = deps.maxArtifactBytes ?? DEFAULTS.maxArtifactBytes;

  async function answer(
    job: BountyJob,
    result: ScanResult,
    bid: bigint,
    scanMs: number | null,
    log: Logger,
    scanStartedAt = Date.now(),
  ): Promise<JobOutcome> {
    const { bounty } = job;
    const body = serializeAnswer(buildAnswer(bounty, result, bid));
    let delivery: AnswerPostResult;
    try {
      delivery = await deliver({
        url: bounty.response_url,
        body,
        expiration: bounty.expiration,
        bountyId: bounty.id,
        key: job.key,
        signal: deps.retainOnShutdown ? deps.shutdownSignal : undefined,
      });
    } catch (error) {
      delivery = { ok: false, status: null, attempts: 0, error: errorMessage(error) };
    }
    const comments = Array.isArray(result.metadata?.comments) ? (result.metadata.comments as unknown[]).map(String) : [];
    log.info('answer', {
      bounty: bounty.id,
      verdict: result.verdict,
      // An unknown answer says why (SKIPPED:TIMEOUT, ERROR:…); a verdict's own comments stay in the answer body.
      comments: result.verdict === 'unknown' && comments.length > 0 ? comments : undefined,
      bid: bounty.answer_kind === 'vote' ? undefined : bid,
      scan_ms: scanMs,
      delivery: delivery.ok ? delivery.status : (delivery.error ?? delivery.status),
      attempts: delivery.attempts,
    });
    if (!delivery.ok && retained()) {
      // Cut by the shutdown: the journal keeps the job, the next start posts the answer (maybe twice, see §9).
      log.warn('answer cut by the shutdown; the next start answers this bounty', { bounty: bounty.id });
      return outcome('retained', job);
    }
    if (!delivery.ok) log.warn('answer not delivered', { bounty: bounty.id, error: delivery.error, attempts: delivery.attempts });
    deps.observer?.onAnswer?.({
      bounty: bounty.id,
      key: job.key,
      kind: bounty.answer_kind,
      verdict: result.verdict,
      bid: bounty.answer_kind === 'vote' ? 0n : bid,
      artifactType: bounty.artifact_type,
      comments,
      scanMs,
      queueWaitMs: Math.max(0, scanStartedAt - job.receivedAt),
      delivered: delivery.ok,
      status: delivery.status,
      attempts: delivery.attempts,
      error: delivery.error,
      body,
    });
    return outcome(delivery.ok ? 'answered' : 'delivery-failed', job);
  }

  function scanError(job: BountyJob, kind: string, message: string, error?: unknown): void {
    const thrown = error instanceof Error ? { at: authorFrame(error), stack: error.stack } : {};
    deps.observer?.onScanError?.({ bounty: job.bounty.id, artifactType: job.bounty.artifact_type, kind, message, ...thrown });
  }

  function outcome(result: JobOutcome, job: BountyJob): JobOutcome {
    deps.onOutcome?.(result, job);
    return result;
  }

  /** Whether the shutdown cut this job and the journal keeps it for the next start. */
  function retained(): boolean {
    return Boolean(deps.retainOnShutdown && deps.shutdownSignal?.aborted);
  }

  function expired(job: BountyJob, log: Logger, when: string): boolean {
    if (!isExpired(job.bounty)) return false;
    log.warn(`bounty expired ${when}; no answer is due`, { bounty: job.bounty.id, expiration: job.bounty.expiration.toISOString() });
    deps.onOutcome?.('expired', job);
    return true;
  }

  async function computeBid(bounty: Bounty, result: ScanResult, module: ScanModule, signal: AbortSignal, log: Logger) {
    const fallback = () => defaultBid(bounty.rules, result.confidence ?? 1);
    if (result.verdict === 'unknown' || result.verdict === 'suspicious') return 0n;
    if (!module.computeBid) return fallback();
    const aborted = whenAborted(signal);
    try {
      const value = await Promise.race([Promise.resolve().then(() => module.computeBid!(bounty, result)), aborted.promise]);
      if (value === ABORTED) {
        log.warn('computeBid did not finish before the scan deadline; using the default bid', { bounty: bounty.id });
        return fallback();
      }
      if (typeof value === 'bigint' || (typeof value === 'number' && !Number.isNaN(value))) return value;
      log.warn('computeBid returned neither a bigint nor a number; using the default bid', { bounty: bounty.id, value: String(value) });
    } catch (error) {
      log.warn('computeBid threw; using the default bid', { bounty: bounty.id, error: errorMessage(error) });
    } finally {
      aborted.dispose();
    }
    return fallback();
  }

  async function process(job: BountyJob): Promise<JobOutcome> {
    const { bounty } = job;
    const log = deps.logger.child({ bounty: bounty.id });
    if (expired(job, log, 'in the queue')) return 'expired';
    if (retained()) return outcome('retained', job);
    const deadline = bounty.expiration.getTime() - margin;
    const started = Date.now();
    if (started >= deadline) {
      log.warn('bounty reached its scan deadline in the queue', { waited_ms: started - job.receivedAt });
      return answer(job, unknownResult(SKIP.TIMEOUT), 0n, null, log);
    }

    const controller = new AbortController();
    const timer = setDeadline(deadline, () => controller.abort(new Error('scan deadline reached')));
    const onShutdown = () => controller.abort(new Error('engine shutting down'));
    if (deps.shutdownSignal?.aborted) onShutdown();
    deps.shutdownSignal?.addEventListener('abort', onShutdown, { once: true });
    const artifact = createArtifactAccess(bounty, { maxBytes: maxBytes, signal: controller.signal, observer: deps.observer });
    const view: Bounty = { ...bounty, fetchArtifact: artifact.bytes, artifactPath: artifact.path };
    const ctx: ScanContext = { signal: controller.signal, deadline: new Date(deadline), log };
    const aborted = whenAborted(controller.signal);
    const abortComment = () => (deps.shutdownSignal?.aborted ? SKIP.SHUTDOWN : SKIP.TIMEOUT);

    let result: ScanResult;
    let bid = 0n;
    let module: ScanModule | undefined;
    try {
      module = deps.module();
      const outcome = await Promise.race([Promise.resolve().then(() => module!.scan(view, ctx)), aborted.promise]);
      if (outcome === ABORTED) {
        log.warn('scan did not finish before the deadline', { comment: abortComment() });
        result = unknownResult(abortComment());
      } else {
        const normalized = normalizeScanResult(outcome);
        if (normalized.ok) {
          result = normalized.value;
          for (const warning of normalized.warnings) log.warn('scan result', { warning });
        } else {
          const detail = normalized.errors.map((e) => `${e.path || 'result'} ${e.message}`).join('; ');
          log.error('scan returned an invalid result', { error: detail });
          scanError(job, 'unprocessable', `invalid scan result: ${detail}`);
          result = unknownResult(errorComment(`invalid scan result: ${detail}`));
        }
      }
    } catch (error) {
      const reason = artifactReason(error);
      const kind = reason ? null : scanErrorKind(error);
      if (reason) {
        log.warn('artifact unavailable', { reason, error: errorMessage(error) });
        scanError(job, reason, errorMessage(error));
        result = unknownResult(SKIP_FOR[reason]);
      } else if (kind) {
        // A typed scan error (engine/scan-errors.ts): the scan knew why it could not give a verdict.
        log.warn('scan error', { scan_error: kind, error: errorMessage(error), at: authorFrame(error) });
        scanError(job, kind, errorMessage(error), error);
        result = { verdict: 'unknown', confidence: 0, metadata: { comments: scanErrorComments(kind, errorMessage(error)) } };
      } else if (controller.signal.aborted) {
        // A scan that honoured its signal rejects with an AbortError: that is the deadline, not a bug.
        result = unknownResult(abortComment());
      } else {
        log.error('scan failed', {
          error: errorMessage(error),
          at: authorFrame(error),
          stack: error instanceof Error ? error.stack : undefined,
        });
        scanError(job, 'unprocessable', errorMessage(error), error);
        result = unknownResult(errorComment(errorMessage(error)));
      }
    }
    const scanMs = Date.now() - started;
    try {
      if (module && !controller.signal.aborted) {
        const chosen = await computeBid(view, result, module, controller.signal, log);
        const final = finalBid(result.verdict, chosen, bounty.rules);
        if (final.warning) log.warn('bid adjusted', { warning: final.warning });
        bid = final.bid;
      } else {
        bid = finalBid(result.verdict, defaultBid(bounty.rules, result.confidence ?? 1), bounty.rules).bid;
      }
    } finally {
      timer.cancel();
      aborted.dispose();
      deps.shutdownSignal?.removeEventListener('abort', onShutdown);
      // The scan is over for us (even one still running past its deadline): its temp file goes now.
      void artifact.cleanup();
    }
    if (retained()) {
      log.warn('scan cut by the shutdown; the next start scans this bounty again', { comment: SKIP.SHUTDOWN });
      return outcome('retained', job);
    }
    if (expired(job, log, 'during the scan')) return 'expired';
    return answer(job, result, bid, scanMs, log, started);
  }

  async function abandon(job: BountyJob, comment: string = SKIP.SHUTDOWN): Promise<JobOutcome> {
    const log = deps.logger.child({ bounty: job.bounty.id });
    if (expired(job, log, 'before it could be scanned')) return 'expired';
    if (comment === SKIP.TIMEOUT) log.warn('bounty reached its scan deadline in the queue', { waited_ms: Date.now() - job.receivedAt });
    return answer(job, unknownResult(comment), 0n, null, log);
  }

  return { process, abandon };
}
