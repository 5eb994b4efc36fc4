/**
 * The scan pipeline: what happens to one dequeued bounty. Whatever the author's code does (throws, hangs, ignores
 * its abort signal, returns junk), every accepted, unexpired bounty gets exactly one answer, posted before its
 * expiration (decisions.md, "Scanning and answering").
 */
import { buildAnswer, errorComment, normalizeScanResult, serializeAnswer, SKIP, unknownResult } from '../protocol/answer.js';
import { defaultBid, finalBid } from '../protocol/bid.js';
import type { ScanResult } from '../protocol/types.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { deliverAnswer, type DeliverFunction, type DeliveryResult } from './deliver.js';
import { createArtifactAccess } from './download.js';
import type { BountyJob, JobProcessor } from './queue.js';
import { ArtifactError, type ArtifactErrorReason, type Bounty, type ScanContext, type ScanModule } from './types.js';

/** What happened to a job, for the engine's counters. */
export type JobOutcome = 'answered' | 'delivery-failed' | 'expired';

export interface PipelineDeps {
  /** Called once per bounty, so a hot reload takes effect from the next bounty on. */
  module: () => ScanModule;
  deliver?: DeliverFunction;
  /** Scan deadline = expiration − this (default 2000 ms), leaving time to post the answer. */
  deliveryMarginMs?: number;
  maxArtifactBytes?: number;
  logger: Logger;
  /** Fires when the engine gives up waiting for running scans at shutdown: they are answered SKIPPED:SHUTDOWN. */
  shutdownSignal?: AbortSignal;
  onOutcome?: (outcome: JobOutcome, job: BountyJob) => void;
}

export interface Pipeline {
  process: JobProcessor;
  /** Answers a job that will never be scanned (queued at shutdown) with `unknown`, `comment` (SKIPPED:SHUTDOWN). */
  abandon(job: BountyJob, comment?: string): Promise<void>;
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

/** Builds the processor the queue calls for each job. */
export function createProcessor(deps: PipelineDeps): JobProcessor {
  return createPipeline(deps).process;
}

/** Builds the processor plus the shutdown path that answers never-scanned jobs. */
export function createPipeline(deps: PipelineDeps): Pipeline {
  const deliver = deps.deliver ?? deliverAnswer;
  const margin = deps.deliveryMarginMs ?? 2000;
  const maxBytes = deps.maxArtifactBytes ?? 64 * 1024 * 1024;

  async function answer(job: BountyJob, result: ScanResult, bid: bigint, scanMs: number | null, log: Logger) {
    const { bounty } = job;
    const body = serializeAnswer(buildAnswer(bounty, result, bid));
    let delivery: DeliveryResult;
    try {
      delivery = await deliver({ url: bounty.response_url, body, expiration: bounty.expiration, bountyId: bounty.id, key: job.key });
    } catch (error) {
      delivery = { ok: false, status: null, attempts: 0, error: errorMessage(error) };
    }
    log.info('answer', {
      bounty: bounty.id,
      verdict: result.verdict,
      bid: bounty.answer_kind === 'vote' ? undefined : bid,
      scan_ms: scanMs,
      delivery: delivery.ok ? delivery.status : (delivery.error ?? delivery.status),
      attempts: delivery.attempts,
    });
    if (!delivery.ok) log.warn('answer not delivered', { bounty: bounty.id, error: delivery.error, attempts: delivery.attempts });
    deps.onOutcome?.(delivery.ok ? 'answered' : 'delivery-failed', job);
  }

  function expired(job: BountyJob, log: Logger, when: string): boolean {
    if (Date.now() < job.bounty.expiration.getTime()) return false;
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

  async function process(job: BountyJob): Promise<void> {
    const { bounty } = job;
    const log = deps.logger.child({ bounty: bounty.id });
    if (expired(job, log, 'in the queue')) return;
    const deadline = bounty.expiration.getTime() - margin;
    const started = Date.now();
    if (started >= deadline) {
      log.warn('bounty reached its scan deadline in the queue', { waited_ms: started - job.receivedAt });
      return answer(job, unknownResult(SKIP.TIMEOUT), 0n, null, log);
    }

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('scan deadline reached')), deadline - started);
    const onShutdown = () => controller.abort(new Error('engine shutting down'));
    if (deps.shutdownSignal?.aborted) onShutdown();
    deps.shutdownSignal?.addEventListener('abort', onShutdown, { once: true });
    const artifact = createArtifactAccess(bounty, { maxBytes: maxBytes, signal: controller.signal });
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
          result = unknownResult(errorComment(`invalid scan result: ${detail}`));
        }
      }
    } catch (error) {
      const reason = artifactReason(error);
      if (reason) {
        log.warn('artifact unavailable', { reason, error: errorMessage(error) });
        result = unknownResult(SKIP_FOR[reason]);
      } else if (controller.signal.aborted) {
        // A scan that honoured its signal rejects with an AbortError: that is the deadline, not a bug.
        result = unknownResult(abortComment());
      } else {
        log.error('scan failed', { error: errorMessage(error) });
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
      clearTimeout(timer);
      aborted.dispose();
      deps.shutdownSignal?.removeEventListener('abort', onShutdown);
      // The scan is over for us (even one still running past its deadline): its temp file goes now.
      void artifact.cleanup();
    }
    if (expired(job, log, 'during the scan')) return;
    await answer(job, result, bid, scanMs, log);
  }

  async function abandon(job: BountyJob, comment: string = SKIP.SHUTDOWN): Promise<void> {
    const log = deps.logger.child({ bounty: job.bounty.id });
    if (expired(job, log, 'in the queue at shutdown')) return;
    await answer(job, unknownResult(comment), 0n, null, log);
  }

  return { process, abandon };
}
