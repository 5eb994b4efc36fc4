/**
 * The webhook endpoint as an h3 app. decisions.md's table is the spec of every status and body. The signature is
 * checked on the raw body bytes, before routing and before any JSON parsing; the 202 for a bounty is sent only once
 * the queue has stored it, and nothing is downloaded or scanned on the request path.
 */
import { H3 } from 'h3';
import { parseBountyBody } from '../protocol/bounty.js';
import { DELIVERY_HEADER, EVENT_HEADER, parseEventName, RESPONSES, SIGNATURE_HEADER } from '../protocol/events.js';
import { stringifyJson } from '../protocol/json.js';
import { verify } from '../protocol/signature.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { jobKey, type BountyJob, type EnqueueOutcome } from './queue.js';

/** Counters the app updates (the engine's `stats()` reads them). */
export interface AppCounters {
  /** Deliveries (every request but GET) received. */
  received: number;
  /** Bounties newly queued. */
  accepted: number;
  /** Bounties answered 202 again without queueing (same delivery id, or same id+phase). */
  duplicates: number;
  /** Deliveries answered with a 4xx or 5xx. */
  rejected: number;
  /** Bounties that expired before they could be answered (on arrival, here). */
  expired: number;
}

export interface WebhookAppOptions {
  secret: string;
  maxBodyBytes: number;
  logger: Logger;
  enqueue(job: BountyJob): Promise<EnqueueOutcome>;
  health(): Promise<{ ok: boolean; detail?: string }>;
  /** True once the engine is shutting down: every request gets 503. */
  isClosing(): boolean;
  counters: AppCounters;
  /** Seconds a client should wait before retrying a 503 (default 5). */
  retryAfterSeconds?: number;
}

type Headers = Record<string, string>;

function json(status: number, body: unknown, headers: Headers = {}): Response {
  return new Response(stringifyJson(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** `application/json`, `application/*+json`, with or without parameters; anything else is not JSON. */
export function isJsonContentType(value: string): boolean {
  const type = value.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.!#$%&'*^_`{|}~-]+\+json$/.test(type);
}

class BodyTooLarge extends Error {}

/** Reads the raw body bytes, stopping as soon as they pass `max` (a chunked body has no Content-Length to trust). */
async function readCapped(request: Request, max: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

/** Builds the webhook app (one handler for every method and path, so the signature check comes before routing). */
export function createWebhookApp(options: WebhookAppOptions): H3 {
  const { counters, logger } = options;
  const retryAfter = String(options.retryAfterSeconds ?? 5);
  const tooLarge = () =>
    json(413, { error: `Request body is larger than ${options.maxBodyBytes} bytes` }, { connection: 'close' });

  async function handle(request: Request, log: (fields: Record<string, unknown>) => void): Promise<Response> {
    const url = new URL(request.url);
    const method = request.method.toUpperCase();
    const shuttingDown = () =>
      json(503, { error: 'The engine is shutting down' }, { 'retry-after': retryAfter, connection: 'close' });
    if (method === 'GET') {
      if (options.isClosing()) return shuttingDown();
      if (url.pathname !== '/') return json(404, { error: `Not found: GET ${url.pathname}` });
      const health = await options.health().catch((error: unknown) => ({ ok: false, detail: errorMessage(error) }));
      return health.ok
        ? json(200, RESPONSES.ok)
        : json(503, { status: 'UNAVAILABLE', detail: health.detail ?? 'the queue is not healthy' }, { 'retry-after': retryAfter });
    }

    const event = request.headers.get(EVENT_HEADER);
    const deliveryId = request.headers.get(DELIVERY_HEADER);
    const fields: Record<string, unknown> = { event, delivery: deliveryId };
    log(fields);
    if (options.isClosing()) return shuttingDown();
    const declared = request.headers.get('content-length');
    if (declared !== null && Number(declared) > options.maxBodyBytes) return tooLarge();
    let body: Uint8Array;
    try {
      body = await readCapped(request, options.maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLarge) return tooLarge();
      // The client went away or was cut by the server's request timeout mid-body (node already answered it 408):
      // a client problem, not an internal error, so no 500 and no error-level log line.
      return json(408, { error: `Request body not received in full: ${errorMessage(error)}` }, { connection: 'close' });
    }

    const signature = request.headers.get(SIGNATURE_HEADER);
    if (signature === null) return json(400, RESPONSES.missingSignature);
    if (!verify(options.secret, body, signature)) return json(401, RESPONSES.badSignature);
    if (url.pathname !== '/') return json(404, { error: `Not found: ${method} ${url.pathname}` });
    if (method !== 'POST') return json(405, { error: `Method ${method} not allowed on /` }, { allow: 'GET, POST' });

    const name = parseEventName(event);
    if (name === null) return json(400, RESPONSES.unsupportedEvent);
    if (name === 'ping') return json(200, RESPONSES.ok);

    const contentType = request.headers.get('content-type');
    if (contentType !== null && !isJsonContentType(contentType)) {
      return json(415, { error: `Unsupported Content-Type ${JSON.stringify(contentType)}; a bounty is application/json` });
    }
    const parsed = parseBountyBody(body);
    if (!parsed.ok) {
      return json(400, { bounty: RESPONSES.invalidBountyMessage, errors: parsed.errors.map(({ path, message }) => ({ path, message })) });
    }
    const bounty = parsed.value;
    fields.bounty = bounty.id;
    for (const warning of parsed.warnings) logger.warn('bounty warning', { bounty: bounty.id, delivery: deliveryId, warning });
    if (Date.now() >= bounty.expiration.getTime()) {
      counters.expired++;
      logger.warn('bounty already expired on arrival; accepted but not scanned', {
        bounty: bounty.id,
        expiration: bounty.expiration.toISOString(),
      });
      return json(202, RESPONSES.accepted);
    }
    let outcome: EnqueueOutcome;
    try {
      outcome = await options.enqueue({ key: jobKey(deliveryId, bounty), deliveryId, bounty, receivedAt: Date.now() });
    } catch (error) {
      logger.error('queue unavailable', { bounty: bounty.id, error: errorMessage(error) });
      return json(503, { error: `Queue unavailable: ${errorMessage(error)}` }, { 'retry-after': retryAfter });
    }
    if (outcome === 'full') {
      logger.warn('queue full; bounty refused with 503', { bounty: bounty.id });
      return json(503, { error: 'Queue full; retry later' }, { 'retry-after': retryAfter });
    }
    if (outcome === 'duplicate') counters.duplicates++;
    else counters.accepted++;
    fields.duplicate = outcome === 'duplicate' || undefined;
    return json(202, RESPONSES.accepted);
  }

  // allowMalformedURL: h3 would answer a path like `/%zz` with its own 400 before this handler ran, i.e. before the
  // signature check and not in the JSON of decisions.md; here it is checked like any other path (then 404).
  const app = new H3({ allowMalformedURL: true });
  app.use(async (event) => {
    const started = performance.now();
    let fields: Record<string, unknown> | undefined;
    let response: Response;
    try {
      response = await handle(event.req, (f) => {
        fields = f;
        counters.received++;
      });
    } catch (error) {
      logger.error('unexpected error handling a request', { method: event.req.method, error: errorMessage(error) });
      response = json(500, { error: 'Internal error; see the engine log' });
    }
    if (fields) {
      if (response.status >= 400) counters.rejected++;
      logger.info('delivery', {
        ...fields,
        status: response.status,
        ack_ms: Math.round((performance.now() - started) * 100) / 100,
      });
    }
    return response;
  });
  return app;
}
