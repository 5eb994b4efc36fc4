/**
 * `createEngine`: the webhook app in front of a queue driven by the scan core (scan-service.ts). One bounty:
 * node-handler.ts (or the h3 app) → app.ts (signature, parse, `queue.enqueue`, 202) → the queue (queue.ts, or
 * redis/) → scanner.ts (`scanJob`, `postAnswer`) → deliver.ts (the POST).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { H3 } from 'h3';
import { createLogger } from '../util/logger.js';
import { createDeliveryHandler, createWebhookApp, type AppCounters } from './app.js';
import type { AnswerPoster } from './deliver.js';
import { DEFAULTS, defaultConcurrency } from './defaults.js';
import { createEgressGuard } from './egress.js';
import { EngineError, integerOption } from './errors.js';
import type { Journal } from './journal.js';
import { toNodeDeliveryHandler } from './node-handler.js';
import { EmbeddedQueue } from './embedded-queue.js';
import type { BountyQueue, RecoveryReport } from './queue.js';
import { startScanning } from './scan-service.js';
import { listenWithTimeouts, type Listener, type ListenOptions } from './server.js';
import type { ScannerOptions } from './scanner.js';

export type { RecoveryReport } from './queue.js';

/** The scan core's options (scanner.ts), the webhook's and the default queue's. */
export interface EngineOptions extends Omit<ScannerOptions, 'cutJobs' | 'post'> {
  secret: string;
  /** During a secret rotation: the previous secret, still accepted; requests signed with it are logged. */
  previousSecret?: string;
  /**
   * Where bounties wait: built first and handed in (a `RedisQueue` from engine/redis/, or an `EmbeddedQueue` of your
   * own). Default: an embedded queue from `concurrency`, `capacity`, `maxQueuedBytes` and `journal`.
   */
  queue?: BountyQueue;
  /** Default queue: scans at a time (default os.availableParallelism()). */
  concurrency?: number;
  /** Default queue: bounties allowed to wait (default 10 000); one more is answered 503 with Retry-After. */
  capacity?: number;
  /** Default queue: body bytes allowed queued or scanning (default 256 MiB); one more is answered 503 with Retry-After. */
  maxQueuedBytes?: number;
  /**
   * Default queue: its journal (engine/journal.ts): bounties are on disk before their 202 and a restart answers
   * what a crash left; call `recover()` before serving. Without it, queued bounties live in memory only.
   */
  journal?: Journal;
  /** Default 1 MiB. */
  maxBodyBytes?: number;
  /** Added to the 422 that refuses a bounty whose response_url `egress` refuses outright. */
  egressHint?: string;
  /** How answers are posted (default: the queue's own, else a plain POST with retries). */
  post?: AnswerPoster;
}

/** The webhook's counters (`expired` adds the scan core's to the app's) and the queue's and scan core's. */
export interface EngineStats extends AppCounters {
  queued: number;
  running: number;
  answered: number;
  answerFailed: number;
}

export interface Engine {
  /** The h3 app (mount it, or call app.fetch in tests). */
  app: H3;
  /** A node:http request handler (same answers as `app`, without the web Request/Response round trip), for Express/Fastify/node:http. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  fetch(request: Request): Promise<Response>;
  /** The queue bounties wait in. */
  readonly queue: BountyQueue;
  /** A node:http server with the internet-facing timeouts of docs/protocol.md §12, on 127.0.0.1:3000 by default. */
  listen(options?: Omit<ListenOptions, 'logger'>): Promise<Listener>;
  /**
   * Graceful stop: new requests get 503, running scans finish within graceMs (default 25 s). What is left stays in the
   * journal for the next start, or on Redis for the workers; in memory it is answered SKIPPED:SHUTDOWN. Listeners
   * from `listen()` close at the end. `quiet`: no shutting-down and stopped lines (an engine that never served).
   */
  close(options?: { graceMs?: number; quiet?: boolean }): Promise<void>;
  /** Resolves when nothing is queued or running here (tests and bench use it). */
  idle(): Promise<void>;
  /** Queues again what the journal holds from a previous run (a no-op without one). Call once, first. */
  recover(): Promise<RecoveryReport>;
  stats(): EngineStats;
}

/** Creates an engine: a webhook app that queues signed bounties and answers each one exactly once. */
export function createEngine(options: EngineOptions): Engine {
  if (typeof options.secret !== 'string' || options.secret === '') {
    throw new EngineError('INVALID_OPTION', 'createEngine: a webhook secret is required', {
      option: 'secret',
      expected: 'a non-empty string',
    });
  }
  if (options.queue && (options.journal || options.capacity !== undefined || options.concurrency !== undefined)) {
    const message = 'createEngine: journal, capacity and concurrency configure the default queue; set them on the queue you pass';
    throw new EngineError('INVALID_OPTION', message, { option: 'queue', expected: 'either a queue, or the default queue’s options' });
  }
  const logger = options.logger ?? createLogger({ level: 'silent' });
  const deliveryMarginMs = integerOption('createEngine', 'deliveryMarginMs', options.deliveryMarginMs, DEFAULTS.deliveryMarginMs, 0);
  const queue: BountyQueue =
    options.queue ??
    new EmbeddedQueue({
      concurrency: integerOption('createEngine', 'concurrency', options.concurrency, defaultConcurrency()),
      capacity: integerOption('createEngine', 'capacity', options.capacity, DEFAULTS.queueCapacity, 0),
      maxBytes: integerOption('createEngine', 'maxQueuedBytes', options.maxQueuedBytes, DEFAULTS.maxQueuedBytes),
      journal: options.journal,
      deadlineMarginMs: deliveryMarginMs,
      logger,
    });
  // EngineOptions extends the scan core's options: they go through as given, the margin as checked above.
  const service = startScanning(queue, { ...options, deliveryMarginMs, logger });

  const counters: AppCounters = { received: 0, accepted: 0, duplicates: 0, rejected: 0, expired: 0 };
  let closing: Promise<void> | undefined;
  // One request core, two adapters sharing it (and its counters): the h3 app for fetch and mounting, a plain
  // node:http handler for listen() and Node servers (see app.ts for the measured reason).
  const handleDelivery = createDeliveryHandler({
    secret: options.secret,
    previousSecret: options.previousSecret,
    maxBodyBytes: integerOption('createEngine', 'maxBodyBytes', options.maxBodyBytes, DEFAULTS.maxBodyBytes),
    logger,
    queue,
    isClosing: () => closing !== undefined,
    counters,
    observer: options.observer,
    // Refused at once only where this process posts the answers (workers elsewhere have their own policy).
    egress: options.egress && !queue.postsElsewhere ? { guard: createEgressGuard(options.egress), hint: options.egressHint } : undefined,
  });
  const app = createWebhookApp(handleDelivery);
  const handler = toNodeDeliveryHandler(handleDelivery);
  const listeners = new Set<Listener>();

  const isIdle = () => {
    const { waiting, active } = queue.counts();
    return waiting === 0 && active === 0 && service.stats().busy === 0;
  };

  return {
    app,
    handler,
    queue,
    fetch: async (request) => app.fetch(request),
    async listen(listenOptions = {}) {
      const listener = await listenWithTimeouts(handler, { ...listenOptions, logger });
      listeners.add(listener);
      return listener;
    },
    close(closeOptions = {}) {
      closing ??= service.close(closeOptions.graceMs ?? DEFAULTS.shutdownGraceMs, {
        quiet: closeOptions.quiet,
        beforeStopped: () => Promise.all([...listeners].map((l) => l.close())),
      });
      return closing;
    },
    async idle() {
      while (!isIdle()) await new Promise((resolve) => setTimeout(resolve, 5));
    },
    recover: async () => (await queue.recover?.()) ?? { restored: 0, dropped: [], unreadable: 0 },
    stats() {
      const { waiting, active } = queue.counts();
      const scanned = service.stats();
      return {
        ...counters,
        queued: waiting,
        running: active,
        answered: scanned.answered,
        answerFailed: scanned.answerFailed,
        expired: counters.expired + scanned.expired,
      };
    },
  };
}
