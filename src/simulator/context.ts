import { createHash } from 'node:crypto';
import { EVENT_HEADER, SIGNATURE_HEADER, signedHeaders } from '../protocol/events.js';
import { UnreachableError } from '../util/errors.js';
import type { SimulatorHost } from './host.js';
import { NetworkError, send, type HttpResponse } from './http.js';

/** What every case needs: the engine, the secret, the simulator's host, and the knobs. */
export interface RunContext {
  url: URL;
  secret: string;
  secretSource?: string;
  timeoutMs: number;
  expirationMs: number;
  /** After a first answer, how long to keep listening for a second one. */
  settleMs: number;
  host: SimulatorHost;
  trace?: (line: string) => void;
  /** Shared by every case: whether the engine has answered anything yet (a network error before that means unreachable). */
  engine: { reached: boolean; explained401?: boolean };
}

export interface EngineRequest {
  /** `X-POLYSWARM-EVENT`; null sends none. */
  event: string | null;
  body: Uint8Array;
  /**
   * The signature header value: undefined signs `body` with the secret, null sends no header, an array sends the
   * header once per value. Characters above U+007F go out as single bytes (latin1), as on the wire.
   */
  signature?: string | string[] | null;
  /** Default: a fresh UUID. */
  deliveryId?: string;
  /** Send `Content-Type: application/json` (bounties do, pings don't). */
  json: boolean;
}

/** A request that did not get an HTTP answer after the engine had already answered others. */
export class CaseRequestError extends Error {}

const TEXT_PREVIEW = 4096;

function preview(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString('utf8');
  return text.length > TEXT_PREVIEW ? `${text.slice(0, TEXT_PREVIEW)}… (${bytes.byteLength} bytes)` : text;
}

/** The engine's answer to one event, with the body and signature header that were sent (for the 401 explanation). */
export type SentResponse = HttpResponse & { sent: Uint8Array; signature: string | string[] | null };

/**
 * Sends one signed event to the engine. The very first request failing at the network level means the engine is
 * not there at all: that is an UnreachableError (exit 3), not a failed check.
 */
export async function sendEvent(ctx: RunContext, request: EngineRequest): Promise<SentResponse> {
  const headers: Record<string, string | string[]> = signedHeaders(ctx.secret, request.body, request.event ?? '', {
    deliveryId: request.deliveryId,
    json: request.json,
  });
  // The cases that probe the engine's refusals send no event, no signature, or one of their own.
  if (request.event === null) delete headers[EVENT_HEADER];
  if (request.signature !== undefined) headers[SIGNATURE_HEADER] = request.signature ?? [];
  if (request.signature === null) delete headers[SIGNATURE_HEADER];
  const signature = request.signature === undefined ? (headers[SIGNATURE_HEADER] as string) : request.signature;
  if (ctx.trace) {
    const digest = createHash('sha256').update(request.body).digest('hex');
    ctx.trace(`→ POST ${ctx.url.href}`);
    for (const [name, values] of Object.entries(headers))
      for (const value of [values].flat())
        ctx.trace(`  ${name}: ${value.length > 200 ? `${value.slice(0, 200)}… (${value.length} characters)` : value}`);
    ctx.trace(`  signed bytes: ${request.body.byteLength} bytes, sha256 ${digest}`);
    if (request.body.byteLength > 0) ctx.trace(`  ${preview(request.body)}`);
  }
  try {
    const response = await send(ctx.url, { method: 'POST', headers, body: request.body, timeoutMs: ctx.timeoutMs });
    ctx.engine.reached = true;
    if (ctx.trace) {
      ctx.trace(
        `← ${response.status} in ${Math.round(response.ms)} ms${response.headers['content-type'] ? ` (${response.headers['content-type']})` : ''}`,
      );
      if (response.body.byteLength > 0) ctx.trace(`  ${preview(response.body)}`);
    }
    return { ...response, sent: request.body, signature };
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    if (!ctx.engine.reached) {
      throw new UnreachableError(`cannot reach the engine at ${ctx.url.href}: ${error.message}`, {
        hint:
          error.code === 'ETIMEDOUT'
            ? 'Something accepted the connection but did not answer; check the URL, or raise --timeout.'
            : 'Is it running? Start it with `polyswarm-engine serve` (or pass the right --url).',
        cause: error,
      });
    }
    throw new CaseRequestError(`the engine did not answer ${request.event ?? 'the'} request: ${error.message}`);
  }
}

/** The body as a short quote for messages. */
export function bodyQuote(response: HttpResponse): string {
  if (response.body.byteLength === 0) return '(empty body)';
  const text = response.body.toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

/** Whether the body of an error answer is JSON, as docs/protocol.md §3 wants every 4xx to be. */
export function isJsonBody(response: HttpResponse): boolean {
  try {
    JSON.parse(response.body.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Why a correctly signed request can get 401: what was signed (length, digest), and the usual causes.
 * The secret itself is never printed.
 */
export function explain401(ctx: RunContext, { sent: body, signature }: SentResponse): string {
  // Once per run: when the secret is wrong, every case says so, and the long explanation once is enough.
  if (ctx.engine.explained401) return 'the engine answered 401 to a correctly signed request (see the explanation above)';
  ctx.engine.explained401 = true;
  const digest = createHash('sha256').update(body).digest('hex');
  return (
    `the engine answered 401 to a correctly signed request: it does not accept our signature. Sent ${body.byteLength} bytes ` +
    `(sha256 ${digest}) signed ${[signature ?? '(none)'].flat().join(', ')} with the secret from ${ctx.secretSource ?? 'the options'}. ` +
    'Usual causes: the engine has a different secret (check WEBHOOK_SECRET in its .env or environment); a proxy ' +
    're-encodes the JSON body before the engine sees it (the HMAC is over the exact bytes); the engine expects a ' +
    '`sha256=` prefix or uppercase hex (PolySwarm sends plain lowercase hex).'
  );
}
