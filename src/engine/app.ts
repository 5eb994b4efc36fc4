/**
 * The webhook endpoint. docs/protocol.md §3 is the spec of every status and body. The signature is checked on the
 * raw body bytes, before routing and before any JSON parsing; the 202 for a bounty is sent only once the queue has
 * stored it, and nothing is downloaded or scanned on the request path.
 *
 * One framework-free core (`createDeliveryHandler`: a request in, `{ status, headers, body }` out) with two thin
 * adapters: the h3 app below (`engine.app`, `engine.fetch`, mounting in other frameworks) and the plain node:http
 * handler in node-handler.ts (`engine.handler`, `engine.listen()`). Why two: served through h3's `toNodeHandler`,
 * every request is turned into a web Request, its body into a web stream and the answer into a web Response; on the
 * 2-CPU dev machine that held pings to 0.15–0.29× a bare node:http server doing the same HMAC check (bench figure
 * 1; a bare h3 app alone reaches only 0.14–0.29×). The node adapter reads headers and body straight from the
 * IncomingMessage and writes precomputed bytes. The protocol logic lives here only.
 */
import { H3 } from 'h3';
import { idForLog, isExpired, parseBountyBody } from '../protocol/bounty.js';
import { DELIVERY_HEADER, EVENT_HEADER, parseEventName, RESPONSES, SIGNATURE_HEADER } from '../protocol/events.js';
import { stringifyJson } from '../protocol/json.js';
import { errorMessage } from '../util/errors.js';
import { levelEnabled, redactUrl, type Logger } from '../util/logger.js';
import { literalRefusal, type EgressGuard } from './egress.js';
import type { DeliveryEvent, EngineObserver } from './observer.js';
import { jobKey } from '../protocol/job.js';
import type { BountyQueue, EnqueueOutcome } from './queue.js';
import { createSignatureCheck, EARLY_REFUSAL_BODY, EARLY_REFUSAL_STATUS, signatureHeaderRefusal } from './signature-gate.js';

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
  /** During a rotation: the previous secret, still accepted (signature-gate.ts); its use is logged. */
  previousSecret?: string;
  maxBodyBytes: number;
  logger: Logger;
  /** Where a valid bounty is stored before its 202 (`enqueue`), and what `GET /` reports (`health`). */
  queue: Pick<BountyQueue, 'enqueue' | 'health'>;
  /** True once the engine is shutting down: every request gets 503. */
  isClosing(): boolean;
  counters: AppCounters;
  /** Told about every request once it is answered (metrics, the inspector, the recorder). */
  observer?: EngineObserver;
  /** Seconds a client should wait before retrying a 503 (default 5). */
  retryAfterSeconds?: number;
  /**
   * The engine's egress policy: a bounty whose response_url it refuses outright (an IP literal, `localhost`) can
   * never be answered, so it is refused with 422 rather than accepted. `hint` says how to allow it (the CLI names
   * its flags there).
   */
  egress?: { guard: EgressGuard; hint?: string };
}

/** What the core needs from a request, whatever server it came through. */
export interface DeliveryRequest {
  /** The HTTP method as received. */
  readonly method: string;
  /** The path without its query, as a WHATWG URL would give it (called only when the answer depends on it). */
  pathname(): string;
  /** A request header by its lowercase name; repeated headers joined with `, ` as web Headers do; null if absent. */
  header(name: string): string | null;
  /**
   * The raw body bytes, read while counting: rejects with `BodyTooLarge` as soon as they pass `max`, with any other
   * error when the client went away (or was cut by the server's timeouts) before sending all of it.
   */
  readBody(max: number): Promise<Uint8Array>;
}

/**
 * An answer, ready to write: `headers` (lowercase names) include content-type and content-length. The body is the
 * JSON text: node:http sends a string body in one write together with the head, where a Buffer costs a writev.
 */
export interface DeliveryReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Handles one request; never throws (an unexpected error is a logged 500). */
export type DeliveryHandler = (request: DeliveryRequest) => Promise<DeliveryReply>;

/** Thrown by `DeliveryRequest.readBody` when the body passes the cap. */
export class BodyTooLarge extends Error {}

/** Thrown by `DeliveryRequest.readBody` when the bytes held across all requests are at their limit (answered 503). */
export class BodyBudgetExhausted extends Error {}

const NO_BODY = new Uint8Array(0);
const EVENT = EVENT_HEADER.toLowerCase();
const DELIVERY = DELIVERY_HEADER.toLowerCase();
const SIGNATURE = SIGNATURE_HEADER.toLowerCase();

/** A JSON answer, its headers in the order web Headers list them (sorted), so both adapters write alike. */
function json(status: number, body: unknown, extra?: Record<string, string>): DeliveryReply {
  const text = stringifyJson(body);
  const all: Record<string, string> = { ...extra, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) };
  const headers: Record<string, string> = {};
  for (const name of Object.keys(all).sort()) headers[name] = all[name]!;
  return { status, headers, body: text };
}

// The answers that never vary, built once: most deliveries are answered with one of these.
const OK = json(200, RESPONSES.ok);
const ACCEPTED = json(202, RESPONSES.accepted);
const BAD_SIGNATURE = json(401, RESPONSES.badSignature);
// Refused before the body is read: the connection is closed rather than the unread body drained.
const EARLY_REFUSAL = {
  missing: json(EARLY_REFUSAL_STATUS.missing, EARLY_REFUSAL_BODY.missing, { connection: 'close' }),
  malformed: json(EARLY_REFUSAL_STATUS.malformed, EARLY_REFUSAL_BODY.malformed, { connection: 'close' }),
};
const UNSUPPORTED_EVENT = json(400, RESPONSES.unsupportedEvent);
const INTERNAL_ERROR = json(500, { error: 'Internal error; see the engine log' });

const JSON_SUFFIX_TYPE = /^application\/[a-z0-9.!#$%&'*^_`{|}~-]+\+json$/;

/** `application/json`, `application/*+json`, with or without parameters; anything else is not JSON. */
export function isJsonContentType(value: string): boolean {
  const type = value.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || JSON_SUFFIX_TYPE.test(type);
}

/** What the per-delivery `info` line says, filled in as the delivery is handled. */
interface DeliveryLine {
  event: string | null;
  delivery: string | null;
  bounty: unknown;
  duplicate: boolean;
  /** The raw body, kept only for an observer that wants bodies. */
  body?: Uint8Array;
}

/** The request headers an observer sees: the protocol's own and the few that explain a refusal. */
const OBSERVED_HEADERS = [
  'content-type',
  'content-length',
  'transfer-encoding',
  'user-agent',
  'x-polyswarm-event',
  'x-polyswarm-delivery',
  'x-polyswarm-signature',
];

/** Why a refusal was given, in the words of its JSON body (`error`, or the bounty errors), for logs and observers. */
export function refusalReason(reply: DeliveryReply): string | undefined {
  if (reply.status < 400) return undefined;
  try {
    const body = JSON.parse(reply.body) as Record<string, unknown>;
    if (typeof body.error === 'string') return body.error;
    if (Array.isArray(body.errors))
      return (body.errors as { path?: string; message?: string }[]).map((e) => `${e.path || '/'} ${e.message}`).join('; ');
    const first = Object.values(body).find((v) => typeof v === 'string');
    return typeof first === 'string' ? first : reply.body;
  } catch {
    return reply.body;
  }
}

/**
 * The `info` line's fields, in the order it prints them, with only the keys that have a value (fixed object shapes,
 * and no undefined keys for the logger to skip: it formats this line once per request).
 */
function lineFields(line: DeliveryLine, reply: DeliveryReply, ackMs: number): Record<string, unknown> {
  const { event, delivery } = line;
  const bounty = typeof line.bounty === 'string' ? idForLog(line.bounty) : line.bounty;
  const status = reply.status;
  // A refusal says why: a wrong secret, a missing signature and an invalid bounty must not look the same.
  if (status >= 400) return { event, delivery, bounty, status, reason: refusalReason(reply), ack_ms: ackMs };
  if (bounty === undefined) return { event, delivery, status, ack_ms: ackMs };
  if (line.duplicate) return { event, delivery, bounty, duplicate: true, status, ack_ms: ackMs };
  return { event, delivery, bounty, status, ack_ms: ackMs };
}

/**
 * The webhook's request handling, framework-free: docs/protocol.md §3 from method, path, headers and raw body to
 * status, headers and body. Both adapters (h3 app, node:http handler) call the same instance, so they share the
 * counters and the log line.
 */
export function createDeliveryHandler(options: WebhookAppOptions): DeliveryHandler {
  const { counters, logger } = options;
  const maxBodyBytes = options.maxBodyBytes;
  const retryAfter = String(options.retryAfterSeconds ?? 5);
  const tooLarge = json(413, { error: `Request body is larger than ${maxBodyBytes} bytes` }, { connection: 'close' });
  const shuttingDown = json(503, { error: 'The engine is shutting down' }, { 'retry-after': retryAfter, connection: 'close' });
  const queueFull = json(503, { error: 'Queue full; retry later' }, { 'retry-after': retryAfter });
  const busy = json(503, { error: 'Too many request bodies in flight; retry later' }, { 'retry-after': retryAfter, connection: 'close' });
  const signedWith = createSignatureCheck(options.secret, options.previousSecret);
  // The delivery line is built only when it will be written (LOG_LEVEL=warn skips it and its timing altogether).
  const infoEnabled = levelEnabled(logger, 'info');
  const observer = options.observer?.onDelivery ? options.observer : undefined;
  const timed = infoEnabled || observer !== undefined;

  async function liveness(request: DeliveryRequest): Promise<DeliveryReply> {
    if (options.isClosing()) return shuttingDown;
    const pathname = request.pathname();
    if (pathname !== '/') return json(404, { error: `Not found: GET ${pathname}` });
    const health = await options.queue.health().catch((error: unknown) => ({ ok: false, detail: errorMessage(error) }));
    return health.ok
      ? OK
      : json(503, { status: 'UNAVAILABLE', detail: health.detail ?? 'the queue is not healthy' }, { 'retry-after': retryAfter });
  }

  async function delivery(request: DeliveryRequest, method: string, line: DeliveryLine): Promise<DeliveryReply> {
    if (options.isClosing()) return shuttingDown;
    const declared = request.header('content-length');
    if (declared !== null && Number(declared) > maxBodyBytes) return tooLarge;
    const signature = request.header(SIGNATURE);
    const refusal = signatureHeaderRefusal(signature);
    if (refusal !== null) return EARLY_REFUSAL[refusal];
    let body: Uint8Array;
    try {
      // A HEAD has no body as far as a web Request goes (fetch, h3): its signature is checked over zero bytes, and
      // the node adapter must agree, so whatever bytes follow a HEAD are never read.
      body = method === 'HEAD' ? NO_BODY : await request.readBody(maxBodyBytes);
      if (observer?.wantsBodies) line.body = body;
    } catch (error) {
      if (error instanceof BodyTooLarge) return tooLarge;
      if (error instanceof BodyBudgetExhausted) return busy;
      // The client went away or was cut by the server's request timeout mid-body (node already answered it 408):
      // a client problem, not an internal error, so no 500 and no error-level log line.
      return json(408, { error: `Request body not received in full: ${errorMessage(error)}` }, { connection: 'close' });
    }

    const signer = signedWith(body, signature!);
    if (signer === null) return BAD_SIGNATURE;
    if (signer === 'previous')
      logger.info('request signed with the previous secret (rotation in progress)', { event: line.event, delivery: line.delivery });
    const pathname = request.pathname();
    if (pathname !== '/') return json(404, { error: `Not found: ${method} ${pathname}` });
    if (method !== 'POST') return json(405, { error: `Method ${method} not allowed on /` }, { allow: 'GET, POST' });

    const name = parseEventName(line.event);
    if (name === null) return UNSUPPORTED_EVENT;
    if (name === 'ping') return OK;

    const contentType = request.header('content-type');
    if (contentType !== null && !isJsonContentType(contentType)) {
      return json(415, { error: `Unsupported Content-Type ${JSON.stringify(contentType)}; a bounty is application/json` });
    }
    const parsed = parseBountyBody(body);
    if (!parsed.ok) {
      return json(400, { bounty: RESPONSES.invalidBountyMessage, errors: parsed.errors.map(({ path, message }) => ({ path, message })) });
    }
    const bounty = parsed.value;
    const deliveryId = line.delivery;
    line.bounty = bounty.id;
    const expired = isExpired(bounty);
    for (const warning of parsed.warnings) {
      // One line per event: an expired bounty's own warning below says it, with what the engine does about it.
      if (expired && warning.startsWith('expired on arrival')) continue;
      logger.warn('bounty warning', { bounty: idForLog(bounty.id), delivery: deliveryId, warning });
    }
    if (expired) {
      counters.expired++;
      logger.warn('bounty already expired on arrival; accepted but not scanned', {
        bounty: idForLog(bounty.id),
        expiration: bounty.expiration.toISOString(),
      });
      return ACCEPTED;
    }
    const unreachable = options.egress ? literalRefusal(options.egress.guard, bounty.response_url) : null;
    if (unreachable) {
      return json(422, {
        error: `response_url ${redactUrl(bounty.response_url)} can never be answered: ${unreachable.message}`,
        ...(options.egress?.hint ? { hint: options.egress.hint } : {}),
      });
    }
    let outcome: EnqueueOutcome;
    try {
      outcome = await options.queue.enqueue({
        key: jobKey(bounty),
        deliveryId,
        bounty,
        receivedAt: Date.now(),
        bytes: body.byteLength,
        body,
      });
    } catch (error) {
      logger.error('queue unavailable', { bounty: idForLog(bounty.id), error: errorMessage(error) });
      return json(503, { error: `Queue unavailable: ${errorMessage(error)}` }, { 'retry-after': retryAfter });
    }
    if (outcome === 'full') {
      logger.warn('queue full; bounty refused with 503', { bounty: idForLog(bounty.id) });
      return queueFull;
    }
    if (outcome === 'duplicate') {
      counters.duplicates++;
      line.duplicate = true;
    } else counters.accepted++;
    return ACCEPTED;
  }

  return async function handleDelivery(request) {
    const started = timed ? performance.now() : 0;
    const method = request.method.toUpperCase();
    let line: DeliveryLine | undefined;
    let reply: DeliveryReply;
    try {
      if (method === 'GET') {
        reply = await liveness(request);
      } else {
        line = { event: request.header(EVENT), delivery: request.header(DELIVERY), bounty: undefined, duplicate: false };
        counters.received++;
        reply = await delivery(request, method, line);
      }
    } catch (error) {
      logger.error('unexpected error handling a request', { method: request.method, error: errorMessage(error) });
      reply = INTERNAL_ERROR;
    }
    if (line) {
      if (reply.status >= 400) counters.rejected++;
      const ackMs = timed ? Math.round((performance.now() - started) * 100) / 100 : 0;
      if (infoEnabled) logger.info('delivery', lineFields(line, reply, ackMs));
      if (observer) observe(observer, request, line, reply, ackMs);
    }
    return reply;
  };
}

function observe(observer: EngineObserver, request: DeliveryRequest, line: DeliveryLine, reply: DeliveryReply, ackMs: number): void {
  const event: DeliveryEvent = {
    event: line.event,
    delivery: line.delivery,
    bounty: typeof line.bounty === 'string' ? line.bounty : undefined,
    status: reply.status,
    reason: refusalReason(reply),
    duplicate: line.duplicate || undefined,
    ackMs,
  };
  if (observer.wantsBodies) {
    event.body = line.body;
    const headers: Record<string, string> = {};
    for (const name of OBSERVED_HEADERS) {
      const value = request.header(name);
      if (value !== null) headers[name] = value;
    }
    event.headers = headers;
  }
  observer.onDelivery?.(event);
}

/** A web Request seen through the core's interface. */
class WebDeliveryRequest implements DeliveryRequest {
  constructor(private readonly request: Request) {}
  get method(): string {
    return this.request.method;
  }
  pathname(): string {
    return new URL(this.request.url).pathname;
  }
  header(name: string): string | null {
    return this.request.headers.get(name);
  }
  /** Stops reading as soon as the bytes pass `max` (a chunked body has no length to trust). */
  async readBody(max: number): Promise<Uint8Array> {
    if (!this.request.body) return NO_BODY;
    const reader = this.request.body.getReader();
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
}

/**
 * The webhook endpoint as an h3 app over `handle` (one handler for every method and path, so the signature check
 * comes before routing). For `app.fetch`, tests and mounting in other frameworks; Node servers use node-handler.ts.
 */
export function createWebhookApp(handle: DeliveryHandler): H3 {
  // allowMalformedURL: h3 would answer a path like `/%zz` with its own 400 before this handler ran, i.e. before the
  // signature check and not in the JSON of docs/protocol.md §3; here it is checked like any other path (then 404).
  const app = new H3({ allowMalformedURL: true });
  app.use(async (event) => {
    const reply = await handle(new WebDeliveryRequest(event.req));
    return new Response(reply.body, { status: reply.status, headers: reply.headers });
  });
  return app;
}
