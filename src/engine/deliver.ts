/**
 * Answer delivery: POST the serialised Assertion/Vote to the bounty's `response_url` through the outbound Agent
 * (http-agent.ts). The reference posted once, with no timeout; PolySwarm counts a missing answer as a failure, so
 * network errors, 5xx and 429 are retried (backoff with jitter) until the expiration, never after it.
 *
 * Redirects (docs/protocol.md): only a 307/308 to the same origin is followed (it keeps the method, the body and the
 * receiver's identity). Any other (301/302/303 would turn the POST into a GET; another origin would hand the answer
 * to someone else) fails the delivery, not retried, with the redirect and its target as the reason.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { Cancellation } from '../util/abort.js';
import { errorMessage } from '../util/errors.js';
import { redactUrl } from '../util/logger.js';
import { DEFAULTS } from './defaults.js';
import { isEgressRefused } from './egress.js';
import { defaultOutbound, discardBody, headerValue, type Outbound, requestPath, USER_AGENT } from './http-agent.js';

/** One answer going out to a bounty's `response_url` (what comes in is a webhook *delivery*, app.ts). */
export interface AnswerPost {
  url: string;
  /** The exact bytes to post (serializeAnswer's output). */
  body: string;
  expiration: Date;
  /** For logs and for wrappers that guard against posting twice (the Redis queue). */
  bountyId: string;
  key: string;
  /** Stops retrying (and cuts an attempt under way) when it fires: the shutdown of a journaled engine. */
  signal?: AbortSignal;
}

export interface AnswerPostResult {
  ok: boolean;
  /** The last HTTP status received, or null when no attempt got one. */
  status: number | null;
  attempts: number;
  /** Why it failed (the last network error, `HTTP 404`, `expired`), when !ok. */
  error?: string;
}

export interface DeliverOptions {
  /** Per-attempt timeout, never beyond the expiration. Default: see `attemptTimeout`. */
  attemptTimeoutMs?: number;
  /** First backoff delay (default 250 ms); doubles each retry, with jitter, up to `maxDelayMs` (default 5 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Same-origin 307/308 redirects followed at most (default 5). */
  maxRedirects?: number;
  /** The Agent and egress policy (default: egress `any`); an engine passes its own. */
  outbound?: Outbound;
}

/** What the scanner calls to post an answer; injectable so a queue can wrap it (e.g. the Redis "posted once" guard). */
export type AnswerPoster = (request: AnswerPost, options?: DeliverOptions) => Promise<AnswerPostResult>;

/** Time kept for the last attempt before the expiration (loopback and nearby receivers answer within this). */
const LAST_ATTEMPT_MS = 100;

const POST_HEADERS = { 'content-type': 'application/json', 'user-agent': USER_AGENT };

/** Seconds in a numeric Retry-After header, or null (HTTP dates are ignored: the backoff applies then). */
function retryAfterMs(value: string | undefined): number | null {
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return null;
  return Number(value) * 1000;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A redirect's Location resolved against the URL that answered it, or null when it is not a URL. */
function redirectTarget(location: string, base: string): URL | null {
  try {
    return new URL(location, base);
  } catch {
    return null;
  }
}

/** The default attempt timeout for `remaining` ms before the expiration (see DEFAULTS.answerAttemptMinMs). */
export function attemptTimeout(remaining: number): number {
  return Math.min(DEFAULTS.answerAttemptMaxMs, Math.max(DEFAULTS.answerAttemptMinMs, Math.floor(remaining / 2)));
}

/**
 * Posts an answer, retrying until it is accepted (2xx), refused (another 4xx, a redirect not followed, a destination
 * the egress policy refuses) or the bounty expires. Never throws; the result says what happened.
 */
export const deliverAnswer: AnswerPoster = async (request, options = {}) => {
  const baseDelayMs = options.baseDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 5000;
  const maxRedirects = options.maxRedirects ?? 5;
  const outbound = options.outbound ?? defaultOutbound();
  const expiresAt = request.expiration.getTime();
  let attempts = 0;
  let status: number | null = null;
  let error: string | undefined;
  for (;;) {
    const remaining = expiresAt - Date.now();
    if (remaining <= 0) return { ok: false, status, attempts, error: error ?? 'expired before delivery' };
    if (request.signal?.aborted) return { ok: false, status, attempts, error: 'cut by the shutdown' };
    attempts++;
    let retryAfter: number | null = null;
    // One timeout for the whole attempt, redirects included, so an attempt never runs past the expiration. A
    // Cancellation (util/abort.ts) and a timer, cleared when the attempt ends, that the shutdown's signal also
    // aborts: AbortSignal.timeout and AbortSignal.any cost measurably more per answer, and so did an AbortController.
    const cancel = new Cancellation();
    const timer = setTimeout(
      () => cancel.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
      Math.max(1, Math.min(options.attemptTimeoutMs ?? attemptTimeout(remaining), remaining)),
    );
    const cut = () => cancel.abort(request.signal?.reason);
    request.signal?.addEventListener('abort', cut, { once: true });
    try {
      let url = request.url;
      let response: Dispatcher.ResponseData;
      for (let hops = 0; ; hops++) {
        const target = new URL(url);
        if (outbound.check) await outbound.check(target);
        response = await outbound.dispatcher.request({
          origin: target.origin,
          path: requestPath(target),
          method: 'POST',
          headers: POST_HEADERS,
          body: request.body,
          signal: cancel,
        });
        const location = headerValue(response.headers, 'location');
        const code = response.statusCode;
        if (!REDIRECTS.has(code) || location === undefined) break;
        await discardBody(response.body);
        // A redirect is the receiver's answer, not a network failure: retrying cannot change it.
        const next = redirectTarget(location, url);
        const to = redactUrl(next?.href ?? location);
        if (next === null || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
          return { ok: false, status: code, attempts, error: `HTTP ${code} redirect to ${to}, not an http(s) URL; not followed` };
        }
        if ((code !== 307 && code !== 308) || next.origin !== target.origin) {
          return {
            ok: false,
            status: code,
            attempts,
            error: `HTTP ${code} redirect to ${to} not followed: an answer is re-posted only by a 307/308 to the same origin`,
          };
        }
        if (hops >= maxRedirects)
          return { ok: false, status: code, attempts, error: `more than ${maxRedirects} redirects (last to ${to})` };
        url = next.href;
      }
      status = response.statusCode;
      // Always drained (or closed), or undici would leak the socket; the reply's body itself is never needed.
      await discardBody(response.body);
      if (status >= 200 && status <= 299) return { ok: true, status, attempts };
      error = `HTTP ${status}`;
      if (status !== 429 && status < 500) return { ok: false, status, attempts, error };
      retryAfter = retryAfterMs(headerValue(response.headers, 'retry-after'));
    } catch (caught) {
      // The policy will not change before the expiration: refused once is refused for good.
      if (isEgressRefused(caught)) return { ok: false, status, attempts, error: redactUrl(errorMessage(caught)) };
      // undici's errors carry the net code themselves (ECONNREFUSED, UND_ERR_SOCKET); fetch put it in `cause`.
      const code = (caught as { code?: unknown })?.code ?? (caught as { cause?: { code?: unknown } })?.cause?.code;
      error = typeof code === 'string' ? code : errorMessage(caught);
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', cut);
    }
    const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempts - 1));
    // "Equal jitter": half fixed, half random, so retries from many bounties spread out but never collapse to 0.
    let delay = backoff / 2 + Math.random() * (backoff / 2);
    if (retryAfter !== null) {
      // The receiver asked us to wait: if that runs past the expiration, there is no allowed retry left.
      if (Date.now() + retryAfter >= expiresAt) return { ok: false, status, attempts, error };
      delay = Math.max(delay, retryAfter);
    }
    // Otherwise a long backoff is cut short so that one last attempt still lands before the expiration.
    const latest = expiresAt - Date.now() - LAST_ATTEMPT_MS;
    if (latest <= 0) return { ok: false, status, attempts, error };
    // Cut short (not thrown) by the shutdown's signal: the loop's next turn says so.
    await sleep(Math.min(delay, latest), undefined, { signal: request.signal }).catch(() => {});
  }
};
