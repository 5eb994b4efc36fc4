/**
 * The scan core: what happens to one bounty a queue hands over, the same in every composition (the embedded engine,
 * a web process on Redis that also scans, a Redis worker). Whatever the author's code does (throws, hangs, ignores
 * its signal, returns junk), every accepted, unexpired bounty gets one answer before its expiration (docs/protocol.md §13).
 *
 * One bounty: `scanJob` (deadline, artifact, `scan`, `computeBid`) → `postAnswer` (build, POST, log, observe). A job
 * that will not be scanned (deadline reached in the queue, shutdown, given up) goes there through `answerUnscanned`.
 */
import { buildAnswer, errorComment, normalizeScanResult, serializeAnswer, SKIP, unknownResult } from '../protocol/answer.js';
import { defaultBid, finalBid } from '../protocol/bid.js';
import { idForLog, isExpired } from '../protocol/bounty.js';
import type { ScanResult } from '../protocol/types.js';
import { bountyToWire } from '../protocol/bounty.js';
import { stringifyJson } from '../protocol/json.js';
import { errorMessage } from '../util/errors.js';
import { createLogger, type Logger } from '../util/logger.js';
import { authorFrame } from '../util/stack.js';
import { setDeadline } from '../util/timers.js';
import { ABORTED, type Abortable, Cancellation, raceSignal } from '../util/abort.js';
import { DEFAULTS } from './defaults.js';
import { deliverAnswer, type AnswerPoster, type AnswerPostResult } from './deliver.js';
import { createArtifactAccess } from './download.js';
import type { EgressPolicy } from './egress.js';
import { EngineError, integerOption } from './errors.js';
import { createOutbound, type Outbound } from './http-agent.js';
import { notify, type EngineObserver } from './observer.js';
import type { BountyJob, CutJobs, JobOutcome, JobRunner } from './queue.js';
import { scanErrorComments, scanErrorKind } from './scan-errors.js';
import { ArtifactError, type ArtifactErrorReason, type Bounty, LazySignalContext, type ScanContext, type ScanModule } from './types.js';

export interface ScannerOptions {
  /** The scan module, or a getter called once per bounty (so a hot reload takes effect from the next bounty on). */
  module: ScanModule | (() => ScanModule);
  /** How answers are posted (default deliverAnswer; startScanning hands the bounded one, behind the queue's guard). */
  post?: AnswerPoster;
  /** What a job cut short at the end of the shutdown grace becomes (the queue says: queue.ts `CutJobs`). Default 'answer'. */
  cutJobs?: CutJobs;
  /** Scan deadline = expiration − this (default DEFAULTS.deliveryMarginMs), leaving time to post the answer. */
  deliveryMarginMs?: number;
  /** Default DEFAULTS.maxArtifactBytes. Downloads and answer posts connect where `egress` allows (default `any`). */
  maxArtifactBytes?: number;
  egress?: EgressPolicy;
  /** Default: silent. */
  logger?: Logger;
  /** Told about every answer, download and failed scan (metrics, the inspector, the recorder). */
  observer?: EngineObserver;
}

export interface ScannerStats {
  answered: number;
  /** Answers that could not be posted (the receiver refused, or the expiration came first). */
  answerFailed: number;
  /** Bounties that expired before an answer was due. */
  expired: number;
  /** Jobs cut short at shutdown and left in their queue (the journal, Redis) for the next start or another worker. */
  retained: number;
  /** Jobs being scanned or answered now. */
  busy: number;
}

/** The scan core a queue drives (`queue.start(scanner)`), with its counters and the end of its work. */
export interface Scanner extends JobRunner {
  stats(): ScannerStats;
  /** Resolves when no job is being scanned or answered. */
  idle(): Promise<void>;
  /** Closes the outbound connections (after the queue closed and `idle()` resolved). */
  close(): Promise<void>;
}

/**
 * What every step of one bounty reads: the options, resolved once; `shutdown` fires when the grace is over, and
 * aborts every scan in `scanning` (a Set, not a listener per scan on the long-lived signal).
 */
interface Core {
  module: () => ScanModule;
  post: AnswerPoster;
  cutJobs: CutJobs;
  margin: number;
  maxArtifactBytes: number;
  outbound: Outbound;
  logger: Logger;
  observer: EngineObserver | undefined;
  shutdown: AbortController;
  scanning: Set<Cancellation>;
  counts: Omit<ScannerStats, 'busy'>;
}

const SKIP_FOR: Record<ArtifactErrorReason, string> = {
  'cannot-fetch': SKIP.CANNOT_FETCH,
  'egress-refused': SKIP.EGRESS_REFUSED,
  'too-large': SKIP.TOO_LARGE,
  'hash-mismatch': SKIP.HASH_MISMATCH,
  timeout: SKIP.TIMEOUT,
  unsupported: SKIP.TYPE_UNSUPPORTED,
};

/** Creates the scan core. Throws INVALID_OPTION for a module without `scan` or a bad number. */
export function createScanner(options: ScannerOptions): Scanner {
  const moduleOption = options.module;
  if (typeof moduleOption !== 'function' && typeof moduleOption?.scan !== 'function') {
    throw new EngineError('INVALID_OPTION', 'module must be a scan module ({ scan }) or a function returning one', {
      option: 'module',
      expected: 'a scan module ({ scan }) or a function returning one',
    });
  }
  const core: Core = {
    module: typeof moduleOption === 'function' ? moduleOption : () => moduleOption,
    post: options.post ?? deliverAnswer,
    cutJobs: options.cutJobs ?? 'answer',
    margin: integerOption('createScanner', 'deliveryMarginMs', options.deliveryMarginMs, DEFAULTS.deliveryMarginMs, 0),
    maxArtifactBytes: integerOption('createScanner', 'maxArtifactBytes', options.maxArtifactBytes, DEFAULTS.maxArtifactBytes),
    outbound: createOutbound(options.egress),
    logger: options.logger ?? createLogger({ level: 'silent' }),
    observer: options.observer,
    shutdown: new AbortController(),
    scanning: new Set(),
    counts: { answered: 0, answerFailed: 0, expired: 0, retained: 0 },
  };
  let busy = 0;
  let waiters: (() => void)[] = [];
  const track = async (work: () => Promise<JobOutcome>): Promise<JobOutcome> => {
    busy++;
    try {
      const outcome = await work();
      count(core, outcome);
      return outcome;
    } finally {
      busy -= 1;
      if (busy === 0) for (const resolve of waiters.splice(0)) resolve();
    }
  };
  return {
    process: (job, options = {}) => track(() => scanJob(core, job, options)),
    abandon: (job, comment) => track(() => answerUnscanned(core, job, comment)),
    cut: () => {
      core.shutdown.abort();
      for (const scan of core.scanning) scan.abort(new Error('engine shutting down'));
    },
    stats: () => ({ ...core.counts, busy }),
    idle: () => (busy === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
    async close() {
      waiters = [];
      await core.outbound.close();
    },
  };
}

function count(core: Core, outcome: JobOutcome): void {
  if (outcome === 'answered') core.counts.answered++;
  else if (outcome === 'answer-failed') core.counts.answerFailed++;
  else if (outcome === 'expired') core.counts.expired++;
  else core.counts.retained++;
}

/** Whether the shutdown cut this job and its queue keeps it for the next start or another worker. */
function kept(core: Core): boolean {
  return core.cutJobs !== 'answer' && core.shutdown.signal.aborted;
}

function expired(job: BountyJob, log: Logger, when: string): boolean {
  if (!isExpired(job.bounty)) return false;
  log.warn(`bounty expired ${when}; no answer is due`, {
    bounty: idForLog(job.bounty.id),
    expiration: job.bounty.expiration.toISOString(),
  });
  return true;
}

/** Answers a job that will not be scanned with `unknown` and `comment` (default SKIPPED:SHUTDOWN). */
async function answerUnscanned(core: Core, job: BountyJob, comment: string = SKIP.SHUTDOWN): Promise<JobOutcome> {
  const log = core.logger.child({ bounty: idForLog(job.bounty.id) });
  if (expired(job, log, 'before it could be scanned')) return 'expired';
  if (comment === SKIP.TIMEOUT) log.warn('bounty reached its scan deadline in the queue', { waited_ms: Date.now() - job.receivedAt });
  return postAnswer(core, job, unknownResult(comment), 0n, null, log);
}

/** Scans one job and answers it, or says why not: `JobRunner.process` (queue.ts says what `taken` and `scanned` are). */
async function scanJob(core: Core, job: BountyJob, { taken, scanned }: { taken?: boolean; scanned?: () => void }): Promise<JobOutcome> {
  if (taken) observeJob(core.observer, job);
  const { bounty } = job;
  const log = core.logger.child({ bounty: idForLog(bounty.id) });
  if (expired(job, log, 'in the queue')) return 'expired';
  if (kept(core)) return 'retained';
  const deadline = bounty.expiration.getTime() - core.margin;
  const started = Date.now();
  if (started >= deadline) {
    scanned?.();
    return answerUnscanned(core, job, SKIP.TIMEOUT);
  }

  // The scan's deadline and the shutdown cut it; the AbortSignal `scan` gets is made only if it reads it.
  const cancel = new Cancellation();
  const timer = setDeadline(deadline, () => cancel.abort(new Error('scan deadline reached')));
  const shutdown = core.shutdown.signal;
  if (shutdown.aborted) cancel.abort(new Error('engine shutting down'));
  core.scanning.add(cancel);
  const artifact = createArtifactAccess(bounty, {
    maxBytes: core.maxArtifactBytes,
    signal: cancel,
    observer: core.observer,
    outbound: core.outbound,
  });
  // Object.assign, not `{ ...bounty, fetchArtifact, … }`: V8 adds properties after a spread on a slow path (~4 µs).
  const view: Bounty = Object.assign({}, bounty, { fetchArtifact: artifact.bytes, artifactPath: artifact.path });
  const ctx = new LazySignalContext(cancel, new Date(deadline), log);
  const abortComment = () => (shutdown.aborted ? SKIP.SHUTDOWN : SKIP.TIMEOUT);

  let result: ScanResult;
  let bid = 0n;
  let module: ScanModule | undefined;
  try {
    module = core.module();
    result = await runScan(core, job, module, view, ctx, cancel, abortComment, log);
    if (!cancel.aborted) bid = await chooseBid(view, result, module, cancel, log);
    else bid = finalBid(result.verdict, defaultBid(bounty.rules, result.confidence ?? 1), bounty.rules).bid;
  } catch (error) {
    result = scanFailure(core, job, error, cancel.aborted, abortComment, log);
  } finally {
    timer.cancel();
    core.scanning.delete(cancel);
    // The scan is over for us (even one still running past its deadline): its temp file goes now.
    void artifact.cleanup();
  }
  if (kept(core)) {
    log.warn('scan cut by the shutdown; the bounty stays queued for the next start or another worker', { comment: SKIP.SHUTDOWN });
    return 'retained';
  }
  if (expired(job, log, 'during the scan')) return 'expired';
  scanned?.();
  return postAnswer(core, job, result, bid, Date.now() - started, log, started);
}

/** The author's `scan`, raced against the deadline; its result normalised. Throws what `scan` threw. */
async function runScan(
  core: Core,
  job: BountyJob,
  module: ScanModule,
  view: Bounty,
  ctx: ScanContext,
  cancel: Cancellation,
  abortComment: () => string,
  log: Logger,
): Promise<ScanResult> {
  const outcome = await raceSignal(cancel, () => module.scan(view, ctx));
  if (outcome === ABORTED) {
    log.warn('scan did not finish before the deadline', { comment: abortComment() });
    return unknownResult(abortComment());
  }
  const normalized = normalizeScanResult(outcome);
  if (normalized.ok) {
    for (const warning of normalized.warnings) log.warn('scan result', { warning });
    return normalized.value;
  }
  const detail = normalized.errors.map((e) => `${e.path || 'result'} ${e.message}`).join('; ');
  log.error('scan returned an invalid result', { error: detail });
  observeScanError(core, job, 'unprocessable', `invalid scan result: ${detail}`);
  return unknownResult(errorComment(`invalid scan result: ${detail}`));
}

/** An ArtifactError, also one thrown by another copy of this package (an engine project's own node_modules). */
function artifactReason(error: unknown): ArtifactErrorReason | null {
  if (error instanceof ArtifactError) return error.reason;
  const e = error as { name?: unknown; reason?: unknown } | null;
  if (e && e.name === 'ArtifactError' && typeof e.reason === 'string' && e.reason in SKIP_FOR) {
    return e.reason as ArtifactErrorReason;
  }
  return null;
}

/** What a scan that threw is answered: the artifact's reason, a typed scan error's, the deadline, or ERROR:<message>. */
function scanFailure(core: Core, job: BountyJob, error: unknown, aborted: boolean, abortComment: () => string, log: Logger): ScanResult {
  const reason = artifactReason(error);
  if (reason) {
    log.warn('artifact unavailable', { reason, error: errorMessage(error) });
    observeScanError(core, job, reason, errorMessage(error));
    return unknownResult(SKIP_FOR[reason]);
  }
  const kind = scanErrorKind(error);
  if (kind) {
    // A typed scan error (engine/scan-errors.ts): the scan knew why it could not give a verdict.
    log.warn('scan error', { scan_error: kind, error: errorMessage(error), at: authorFrame(error) });
    observeScanError(core, job, kind, errorMessage(error), error);
    return { verdict: 'unknown', confidence: 0, metadata: { comments: scanErrorComments(kind, errorMessage(error)) } };
  }
  // A scan that honoured its signal rejects with an AbortError: that is the deadline, not a bug.
  if (aborted) return unknownResult(abortComment());
  log.error('scan failed', { error: errorMessage(error), at: authorFrame(error), stack: error instanceof Error ? error.stack : undefined });
  observeScanError(core, job, 'unprocessable', errorMessage(error), error);
  return unknownResult(errorComment(errorMessage(error)));
}

/** The author's `computeBid` (or the default bid), clamped into the bounty's rules. */
async function chooseBid(bounty: Bounty, result: ScanResult, module: ScanModule, signal: Abortable, log: Logger): Promise<bigint> {
  let chosen: bigint | number = defaultBid(bounty.rules, result.confidence ?? 1);
  if (result.verdict !== 'unknown' && result.verdict !== 'suspicious' && module.computeBid) {
    try {
      const value = await raceSignal(signal, () => module.computeBid!(bounty, result));
      if (value === ABORTED)
        log.warn('computeBid did not finish before the scan deadline; using the default bid', { bounty: idForLog(bounty.id) });
      else if (typeof value === 'bigint' || (typeof value === 'number' && !Number.isNaN(value))) chosen = value;
      else
        log.warn('computeBid returned neither a bigint nor a number; using the default bid', {
          bounty: idForLog(bounty.id),
          value: String(value),
        });
    } catch (error) {
      log.warn('computeBid threw; using the default bid', { bounty: idForLog(bounty.id), error: errorMessage(error) });
    }
  }
  const final = finalBid(result.verdict, chosen, bounty.rules);
  if (final.warning) log.warn('bid adjusted', { warning: final.warning });
  return final.bid;
}

/** Builds the answer, posts it to the bounty's response_url, logs and reports the outcome. */
async function postAnswer(
  core: Core,
  job: BountyJob,
  result: ScanResult,
  bid: bigint,
  scanMs: number | null,
  log: Logger,
  scanStartedAt = Date.now(),
): Promise<JobOutcome> {
  const { bounty } = job;
  const body = serializeAnswer(buildAnswer(bounty, result, bid));
  let posted: AnswerPostResult;
  try {
    posted = await core.post(
      {
        url: bounty.response_url,
        body,
        expiration: bounty.expiration,
        bountyId: bounty.id,
        key: job.key,
        signal: core.cutJobs === 'keep-cut-posts' ? core.shutdown.signal : undefined,
      },
      { outbound: core.outbound },
    );
  } catch (error) {
    posted = { ok: false, status: null, attempts: 0, error: errorMessage(error) };
  }
  const comments = Array.isArray(result.metadata?.comments) ? (result.metadata.comments as unknown[]).map(String) : [];
  log.info('answer', {
    bounty: idForLog(bounty.id),
    verdict: result.verdict,
    // An unknown answer says why (SKIPPED:TIMEOUT, ERROR:…); a verdict's own comments stay in the answer body.
    comments: result.verdict === 'unknown' && comments.length > 0 ? comments : undefined,
    bid: bounty.answer_kind === 'vote' ? undefined : bid,
    scan_ms: scanMs,
    delivery: posted.ok ? posted.status : (posted.error ?? posted.status),
    attempts: posted.attempts,
  });
  if (!posted.ok && core.cutJobs === 'keep-cut-posts' && core.shutdown.signal.aborted) {
    // Cut by the shutdown: the journal keeps the job, the next start posts the answer (maybe twice, see §9).
    log.warn('answer cut by the shutdown; the next start answers this bounty', { bounty: idForLog(bounty.id) });
    return 'retained';
  }
  if (!posted.ok) log.warn('answer not delivered', { bounty: idForLog(bounty.id), error: posted.error, attempts: posted.attempts });
  if (core.observer?.onAnswer)
    notify(core.observer, 'onAnswer', {
      bounty: bounty.id,
      key: job.key,
      kind: bounty.answer_kind,
      verdict: result.verdict,
      bid: bounty.answer_kind === 'vote' ? 0n : bid,
      artifactType: bounty.artifact_type,
      comments,
      scanMs,
      queueWaitMs: Math.max(0, scanStartedAt - job.receivedAt),
      delivered: posted.ok,
      status: posted.status,
      attempts: posted.attempts,
      error: posted.error,
      body,
    });
  return posted.ok ? 'answered' : 'answer-failed';
}

function observeScanError(core: Core, job: BountyJob, kind: string, message: string, error?: unknown): void {
  const thrown = error instanceof Error ? { at: authorFrame(error), stack: error.stack } : {};
  notify(core.observer, 'onScanError', { bounty: job.bounty.id, artifactType: job.bounty.artifact_type, kind, message, ...thrown });
}

/** Tells the observer (a worker's recorder) which job this process took from a shared queue. */
function observeJob(observer: EngineObserver | undefined, job: BountyJob): void {
  if (!observer?.onJob) return;
  const body = observer.wantsBodies ? Buffer.from(stringifyJson(bountyToWire(job.bounty)), 'utf8') : undefined;
  notify(observer, 'onJob', { bounty: job.bounty.id, key: job.key, delivery: job.deliveryId, receivedAt: job.receivedAt, body });
}
