/**
 * `createEngine`: the webhook app, the queue and the scan pipeline wired together. `serve`, `start`, the Redis
 * worker and engine authors' own servers all build on it.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { H3 } from 'h3';
import { SKIP } from '../protocol/answer.js';
import { isExpired, parseBountyBody } from '../protocol/bounty.js';
import { UsageError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/logger.js';
import { createDeliveryHandler, createWebhookApp, type AppCounters } from './app.js';
import type { DeliverFunction } from './deliver.js';
import { DEFAULTS, defaultConcurrency } from './defaults.js';
import type { Journal } from './journal.js';
import type { EngineObserver } from './observer.js';
import { createPipeline } from './pipeline.js';
import { toNodeDeliveryHandler } from './node-handler.js';
import { EmbeddedQueue, jobKey, type BountyJob, type BountyQueue, type JobOutcome, type JobProcessor } from './queue.js';
import { listenWithTimeouts, type Listener } from './server.js';
import type { ScanModule } from './types.js';

export interface EngineOptions {
  secret: string;
  /** During a secret rotation: the previous secret, still accepted; requests signed with it are logged. */
  previousSecret?: string;
  /** The scan module, or a getter that is called for every bounty (so hot reload can swap it). */
  module: ScanModule | (() => ScanModule);
  /** Scans at a time (default os.availableParallelism()). */
  concurrency?: number;
  /** Queued bounties allowed (default 10 000); one more is answered 503 with Retry-After. */
  capacity?: number;
  /** Body bytes allowed queued or scanning (default 256 MiB); one more is answered 503 with Retry-After. */
  maxQueuedBytes?: number;
  /**
   * The embedded queue's journal (engine/journal.ts): bounties are on disk before their 202 and a restart answers
   * what a crash left; call `recover()` before serving. Without it, queued bounties live in memory only.
   */
  journal?: Journal;
  /** Default 2000: scan deadline = expiration − margin, leaving time to post the answer. */
  deliveryMarginMs?: number;
  /** Default 1 MiB. */
  maxBodyBytes?: number;
  /** Default 64 MiB. */
  maxArtifactBytes?: number;
  /** Default: silent. */
  logger?: Logger;
  /** Default: the embedded queue. The Redis queue plugs in here; it is handed the job processor and the engine's limits. */
  queue?: (processor: JobProcessor, context: QueueContext) => BountyQueue;
  /** Default true; false = web only (enqueue, never scan; for Redis web processes). */
  scanInProcess?: boolean;
  /** How answers are posted (default deliverAnswer); a queue may wrap it, e.g. with a "posted once" guard. */
  deliver?: DeliverFunction;
  /** Told about every request, answer and failed scan (engine/observer.ts); combine several with combineObservers. */
  observer?: EngineObserver;
}

/** What a shared queue gets from the engine besides the processor: the same limits and deadline as the embedded queue. */
export interface QueueContext {
  capacity: number;
  maxQueuedBytes: number;
  deadlineMarginMs: number;
  /** Answers a job no worker started by its scan deadline: `unknown`, SKIPPED:TIMEOUT. */
  onOverdue: (job: BountyJob) => Promise<unknown>;
}

export interface EngineStats {
  received: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  queued: number;
  running: number;
  answered: number;
  deliveryFailed: number;
  expired: number;
}

export interface RecoveryReport {
  /** Bounties from the journal queued again. */
  restored: number;
  /** Bounties from the journal that expired while the engine was down (no answer is due). */
  dropped: string[];
  /** Journal records that could not be read back (logged, then removed). */
  unreadable: number;
}

export interface Engine {
  /** The h3 app (mount it, or call app.fetch in tests). */
  app: H3;
  /** A node:http request handler (same answers as `app`, without the web Request/Response round trip), for Express/Fastify/node:http. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  fetch(request: Request): Promise<Response>;
  /** A node:http server with the internet-facing timeouts of docs/protocol.md §12, on 127.0.0.1:3000 by default. */
  listen(options?: { port?: number; host?: string }): Promise<{ url: string; server: Server; close(): Promise<void> }>;
  /**
   * Graceful stop: new requests get 503, running scans finish until their deadlines (bounded by graceMs, default
   * 25 s). With a journal, what is queued, and what is still running at the end of the grace, stays in it for the
   * next start; without, queued bounties are answered unknown (SKIPPED:SHUTDOWN) if still unexpired; resolves when every accepted
   * bounty is answered or expired. Listeners opened with `listen()` are closed at the end.
   */
  close(options?: { graceMs?: number }): Promise<void>;
  /** Resolves when nothing is queued or running (tests and bench use it). */
  idle(): Promise<void>;
  /** Queues again what the journal holds from a previous run (with `journal`; a no-op without). Call once, first. */
  recover(): Promise<RecoveryReport>;
  stats(): EngineStats;
}

function positiveInteger(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new UsageError(`createEngine: ${name} must be an integer ≥ ${min}, got ${value}`);
  }
  return value;
}

/** Creates an engine: a webhook app that queues signed bounties and answers each one exactly once. */
export function createEngine(options: EngineOptions): Engine {
  if (typeof options.secret !== 'string' || options.secret === '') {
    throw new UsageError('createEngine: a webhook secret is required', { hint: 'Set WEBHOOK_SECRET.' });
  }
  const moduleOption = options.module;
  if (typeof moduleOption !== 'function' && typeof moduleOption?.scan !== 'function') {
    throw new UsageError('createEngine: module must be a scan module ({ scan }) or a function returning one');
  }
  const getModule: () => ScanModule = typeof moduleOption === 'function' ? moduleOption : () => moduleOption;
  const concurrency = positiveInteger('concurrency', options.concurrency, defaultConcurrency());
  const capacity = positiveInteger('capacity', options.capacity, DEFAULTS.queueCapacity, 0);
  const maxQueuedBytes = positiveInteger('maxQueuedBytes', options.maxQueuedBytes, DEFAULTS.maxQueuedBytes);
  const maxBodyBytes = positiveInteger('maxBodyBytes', options.maxBodyBytes, DEFAULTS.maxBodyBytes);
  const maxArtifactBytes = positiveInteger('maxArtifactBytes', options.maxArtifactBytes, DEFAULTS.maxArtifactBytes);
  const deliveryMarginMs = positiveInteger('deliveryMarginMs', options.deliveryMarginMs, DEFAULTS.deliveryMarginMs, 0);
  if (options.journal && options.queue)
    throw new UsageError('createEngine: a journal is for the embedded queue; a shared queue stores bounties itself');
  const scanInProcess = options.scanInProcess ?? true;
  if (!scanInProcess && !options.queue) {
    throw new UsageError('createEngine: scanInProcess: false needs a shared queue (e.g. Redis) to hand bounties to');
  }
  const logger = options.logger ?? createLogger({ level: 'silent' });

  const counters: AppCounters & { answered: number; deliveryFailed: number } = {
    received: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    expired: 0,
    answered: 0,
    deliveryFailed: 0,
  };
  const shutdown = new AbortController();
  const pipeline = createPipeline({
    module: getModule,
    deliver: options.deliver,
    deliveryMarginMs,
    maxArtifactBytes,
    logger,
    shutdownSignal: shutdown.signal,
    retainOnShutdown: Boolean(options.journal),
    observer: options.observer,
    onOutcome: (outcome) => {
      if (outcome === 'retained') return;
      if (outcome === 'answered') counters.answered++;
      else if (outcome === 'delivery-failed') counters.deliveryFailed++;
      else counters.expired++;
    },
  });

  // Jobs this process is working on (scanning, or answering at shutdown): close() and idle() wait for them.
  let inFlight = 0;
  const track = async (work: Promise<JobOutcome>): Promise<JobOutcome> => {
    inFlight++;
    try {
      return await work;
    } finally {
      inFlight--;
    }
  };
  const processor: JobProcessor = scanInProcess
    ? (job) => track(pipeline.process(job))
    : async () => {
        throw new Error('this engine is web-only (scanInProcess: false); a worker process scans');
      };
  const onQueueError = (error: unknown, job: BountyJob) =>
    logger.error('job failed', { bounty: job.bounty.id, error: error instanceof Error ? error.message : String(error) });
  const embedded = options.queue
    ? undefined
    : new EmbeddedQueue(processor, {
        concurrency,
        capacity,
        maxBytes: maxQueuedBytes,
        journal: options.journal,
        deadlineMarginMs: deliveryMarginMs,
        // A bounty still waiting at its scan deadline is answered now, without a scan slot (queue.ts).
        onOverdue: (job) => track(pipeline.abandon(job, SKIP.TIMEOUT)),
        onError: onQueueError,
      });
  const queue: BountyQueue =
    embedded ??
    options.queue!(processor, {
      capacity,
      maxQueuedBytes,
      deadlineMarginMs: deliveryMarginMs,
      onOverdue: (job) => track(pipeline.abandon(job, SKIP.TIMEOUT)),
    });
  let recovered = false;

  let closing: Promise<void> | undefined;
  // One request core, two adapters sharing it (and its counters): the h3 app for fetch and mounting, a plain
  // node:http handler for listen() and Node servers (see app.ts for the measured reason).
  const handleDelivery = createDeliveryHandler({
    secret: options.secret,
    previousSecret: options.previousSecret,
    maxBodyBytes,
    logger,
    enqueue: (job) => queue.enqueue(job),
    health: () => queue.health(),
    isClosing: () => closing !== undefined,
    counters,
    observer: options.observer,
  });
  const app = createWebhookApp(handleDelivery);
  const handler = toNodeDeliveryHandler(handleDelivery);
  const listeners = new Set<Listener>();

  const waitUntil = async (done: () => boolean) => {
    while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  const isIdle = () => {
    const { waiting, active } = queue.counts();
    return waiting === 0 && active === 0 && inFlight === 0;
  };

  return {
    app,
    handler,
    fetch: async (request) => app.fetch(request),
    async listen(listenOptions = {}) {
      const listener = await listenWithTimeouts(handler, { ...listenOptions, logger });
      listeners.add(listener);
      return listener;
    },
    close(closeOptions = {}) {
      closing ??= (async () => {
        const graceMs = closeOptions.graceMs ?? DEFAULTS.shutdownGraceMs;
        const { waiting, active } = queue.counts();
        logger.info('shutting down', {
          queued: waiting,
          running: active,
          grace_ms: graceMs,
          ...(options.journal ? { kept_for_next_start: waiting } : {}),
        });
        // After the grace period, scans still running are cut short and answered SKIPPED:SHUTDOWN.
        const timer = setTimeout(() => shutdown.abort(), graceMs);
        try {
          await queue.close({ graceMs, onAbandoned: (job) => track(pipeline.abandon(job)) });
          await waitUntil(() => inFlight === 0);
        } finally {
          clearTimeout(timer);
        }
        await Promise.all([...listeners].map((l) => l.close()));
        await options.journal?.close();
        logger.info('stopped', { answered: counters.answered, delivery_failed: counters.deliveryFailed });
      })();
      return closing;
    },
    idle: () => waitUntil(isIdle),
    async recover() {
      const report: RecoveryReport = { restored: 0, dropped: [], unreadable: 0 };
      if (recovered || !options.journal || !embedded) return report;
      recovered = true;
      const { pending, answered, dropped } = await options.journal.recover();
      embedded.rememberAnswered(answered);
      report.dropped = dropped;
      for (const key of dropped) logger.warn('bounty expired while the engine was down; no answer is due', { key });
      for (const [key, record] of pending) {
        const parsed = parseBountyBody(record.body);
        if (!parsed.ok || jobKey(parsed.value) !== key || isExpired(parsed.value)) {
          report.unreadable++;
          logger.error('journal record could not be read back; removed', {
            key,
            error: parsed.ok ? 'key or expiration mismatch' : parsed.errors[0]?.message,
          });
          await options.journal.settle(key, 0);
          continue;
        }
        embedded.restore({
          key,
          deliveryId: record.deliveryId,
          bounty: parsed.value,
          receivedAt: record.receivedAt,
          bytes: record.body.byteLength,
        });
        report.restored++;
      }
      if (report.restored > 0 || dropped.length > 0) {
        logger.info('journal recovered', { restored: report.restored, expired: dropped.length, journal: options.journal.path });
      }
      return report;
    },
    stats() {
      const { waiting, active } = queue.counts();
      return {
        received: counters.received,
        accepted: counters.accepted,
        duplicates: counters.duplicates,
        rejected: counters.rejected,
        queued: waiting,
        running: active,
        answered: counters.answered,
        deliveryFailed: counters.deliveryFailed,
        expired: counters.expired,
      };
    },
  };
}
