/**
 * `createEngine`: the webhook app, the queue and the scan pipeline wired together. `serve`, `start`, the Redis
 * worker and engine authors' own servers all build on it.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { availableParallelism } from 'node:os';
import type { H3 } from 'h3';
import { UsageError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/logger.js';
import { createDeliveryHandler, createWebhookApp, type AppCounters } from './app.js';
import type { DeliverFunction } from './deliver.js';
import { createPipeline } from './pipeline.js';
import { toNodeDeliveryHandler } from './node-handler.js';
import { EmbeddedQueue, type BountyJob, type BountyQueue, type JobProcessor } from './queue.js';
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
  /** Default 2000: scan deadline = expiration − margin, leaving time to post the answer. */
  deliveryMarginMs?: number;
  /** Default 1 MiB. */
  maxBodyBytes?: number;
  /** Default 64 MiB. */
  maxArtifactBytes?: number;
  /** Default: silent. */
  logger?: Logger;
  /** Default: the embedded queue. The Redis queue plugs in here; it is handed the job processor. */
  queue?: (processor: JobProcessor) => BountyQueue;
  /** Default true; false = web only (enqueue, never scan; for Redis web processes). */
  scanInProcess?: boolean;
  /** How answers are posted (default deliverAnswer); a queue may wrap it, e.g. with a "posted once" guard. */
  deliver?: DeliverFunction;
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

export interface Engine {
  /** The h3 app (mount it, or call app.fetch in tests). */
  app: H3;
  /** A node:http request handler (same answers as `app`, without the web Request/Response round trip), for Express/Fastify/node:http. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  fetch(request: Request): Promise<Response>;
  /** A node:http server with internet-facing timeouts (decisions.md), on 127.0.0.1:3000 unless told otherwise. */
  listen(options?: { port?: number; host?: string }): Promise<{ url: string; server: Server; close(): Promise<void> }>;
  /**
   * Graceful stop: new requests get 503, running scans finish until their deadlines (bounded by graceMs, default
   * 30 s), queued bounties are answered unknown (SKIPPED:SHUTDOWN) if still unexpired; resolves when every accepted
   * bounty is answered or expired. Listeners opened with `listen()` are closed at the end.
   */
  close(options?: { graceMs?: number }): Promise<void>;
  /** Resolves when nothing is queued or running (tests and bench use it). */
  idle(): Promise<void>;
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
  const concurrency = positiveInteger('concurrency', options.concurrency, availableParallelism());
  const capacity = positiveInteger('capacity', options.capacity, 10_000, 0);
  const maxBodyBytes = positiveInteger('maxBodyBytes', options.maxBodyBytes, 1024 * 1024);
  const maxArtifactBytes = positiveInteger('maxArtifactBytes', options.maxArtifactBytes, 64 * 1024 * 1024);
  const deliveryMarginMs = positiveInteger('deliveryMarginMs', options.deliveryMarginMs, 2000, 0);
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
    onOutcome: (outcome) => {
      if (outcome === 'answered') counters.answered++;
      else if (outcome === 'delivery-failed') counters.deliveryFailed++;
      else counters.expired++;
    },
  });

  // Jobs this process is working on (scanning, or answering at shutdown): close() and idle() wait for them.
  let inFlight = 0;
  const track = async (work: Promise<void>) => {
    inFlight++;
    try {
      await work;
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
  const queue = options.queue
    ? options.queue(processor)
    : new EmbeddedQueue(processor, { concurrency, capacity, onError: onQueueError });

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
        const graceMs = closeOptions.graceMs ?? 30_000;
        logger.info('shutting down', { queued: queue.counts().waiting, running: queue.counts().active, grace_ms: graceMs });
        // After the grace period, scans still running are cut short and answered SKIPPED:SHUTDOWN.
        const timer = setTimeout(() => shutdown.abort(), graceMs);
        try {
          await queue.close({ graceMs, onAbandoned: (job) => track(pipeline.abandon(job)) });
          await waitUntil(() => inFlight === 0);
        } finally {
          clearTimeout(timer);
        }
        await Promise.all([...listeners].map((l) => l.close()));
        logger.info('stopped', { answered: counters.answered, delivery_failed: counters.deliveryFailed });
      })();
      return closing;
    },
    idle: () => waitUntil(isIdle),
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
