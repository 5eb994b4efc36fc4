/**
 * Outbound HTTP: the undici Agent that artifact downloads (download.ts) and answer POSTs (deliver.ts) share, behind
 * the egress policy (egress.ts), and helpers around undici's responses. The global `fetch` cost a fifth of the
 * engine's CPU per bounty (its WHATWG layers around undici); `undici.request()` is the same client without them.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Agent, buildConnector, EnvHttpProxyAgent, type Dispatcher } from 'undici';
import { errorMessage } from '../util/errors.js';
import { DEFAULTS } from './defaults.js';
import { checkedLookup, checkUrlNow, createEgressGuard, literalCheck, type EgressGuard, type EgressPolicy } from './egress.js';

/** Sent as User-Agent (fetch sent `node`; undici.request sends none, and some hosts refuse requests without one). */
export const USER_AGENT = 'polyswarm-engine';

/**
 * undici's own connector with the egress policy in front of it (egress.ts): an IP literal is checked here (net
 * skips `lookup` for those), a name by the checking `lookup` after it resolves, right before the socket connects.
 */
function checkedConnector(guard: EgressGuard): buildConnector.connector {
  const connect = buildConnector({
    timeout: DEFAULTS.outboundConnectTimeoutMs,
    lookup: checkedLookup(guard),
  } as buildConnector.BuildOptions);
  return (options, callback) => {
    const refused = literalCheck(guard, options.hostname);
    if (refused) callback(refused, null);
    else connect(options, callback);
  };
}

/** An engine's outbound HTTP: one keep-alive Agent behind one egress policy, for downloads and answer posts. */
export interface Outbound {
  readonly policy: EgressPolicy;
  readonly dispatcher: Dispatcher;
  /**
   * Checks a URL against the egress policy before it is requested; only there when a proxy will connect in our place
   * (the connect-time check covers direct connections, so they skip a URL parse and an await per request).
   */
  check?(url: URL): Promise<void>;
  /** Closes the Agent's sockets (waiting for requests in flight). */
  close(): Promise<void>;
}

/**
 * An outbound Agent under `policy` (default `any`): keep-alive per origin, no pipelining (a receiver that hangs on
 * one request never holds up the answers behind it). undici's header/body timeouts are off: downloads set their idle
 * timeout per request and the callers' AbortSignals bound the whole. With HTTP_PROXY/HTTPS_PROXY set, requests go
 * through the proxy (NO_PROXY honoured) and `check` checks each URL before it is sent.
 */
export function createOutbound(policy: EgressPolicy = { mode: 'any', allow: [] }): Outbound {
  const guard = createEgressGuard(policy);
  const options = {
    // Enough parallel sockets per origin for a busy engine, but a bound, so a hung host cannot eat every fd.
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: checkedConnector(guard),
  };
  // HTTP_PROXY / HTTPS_PROXY (either case), read as every HTTP client does: settings without a flag of their own.
  const env = process.env;
  const proxied = Boolean(env.http_proxy || env.HTTP_PROXY || env.https_proxy || env.HTTPS_PROXY);
  const dispatcher = proxied ? new EnvHttpProxyAgent(options) : new Agent(options);
  return {
    policy,
    dispatcher,
    check: proxied ? (url) => checkUrlNow(url, guard) : undefined,
    close: () => dispatcher.close(),
  };
}

let shared: Outbound | undefined;

/**
 * The outbound used when a caller names none (`deliverAnswer` or `downloadArtifact` called directly; egress `any`).
 * An engine builds its own from its `egress` option.
 */
export function defaultOutbound(): Outbound {
  shared ??= createOutbound();
  return shared;
}

/** Closes the default outbound's sockets; the next call without an outbound makes a fresh one. */
export async function closeOutboundAgent(): Promise<void> {
  const current = shared;
  shared = undefined;
  await current?.close();
}

/**
 * The `path` of a request to `url` (pathname and query), for `dispatcher.request({ origin, path, … })`: the
 * engine calls its dispatcher directly, not `undici.request(url, options)`, whose `{ ...options, origin, path }`
 * takes V8's slow path for properties added after a spread (~1 % of the CPU of a bounty, which makes two).
 */
export function requestPath(url: URL): string {
  return url.search ? `${url.pathname}${url.search}` : url.pathname;
}

/** The first value of a response header (undici gives an array when a header is repeated). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** How long a body we do not want may take to arrive before its socket is given up instead of reused. */
const DISCARD_WAIT_MS = 100;

const ignore = () => {};

/**
 * Closes a response body we do not read. undici emits an error ("Request aborted") on a body destroyed before its
 * end, which would crash the process unhandled, so a listener is attached first.
 */
export function destroyBody(body: Readable): void {
  body.on('error', ignore);
  body.destroy();
}

/**
 * Drains a body we do not want (a redirect's, an error page, the receiver's reply) so undici can reuse the socket (an
 * unread body leaks it); one over undici's dump limit (128 KiB) or not in within DISCARD_WAIT_MS is destroyed.
 */
export function discardBody(body: Dispatcher.ResponseData['body']): Promise<void> {
  body.on('error', ignore);
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      body.destroy();
      resolve();
    }, DISCARD_WAIT_MS);
    body
      .dump()
      .then(ignore, ignore)
      .finally(() => {
        clearTimeout(timer);
        resolve();
      });
  });
}

/** An undici/net error as one line, with its code (ECONNREFUSED, UND_ERR_SOCKET, …) when the message lacks it. */
export function networkMessage(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  const message = errorMessage(error);
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}
