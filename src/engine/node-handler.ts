/**
 * The node:http adapter of the webhook core (app.ts): `engine.handler` and what `engine.listen()` serves. It reads
 * headers and the raw body straight from the IncomingMessage (no web Request, Headers or streams) and writes the
 * core's precomputed bytes with an explicit Content-Length. See app.ts for why there are two adapters.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyBudgetExhausted, BodyTooLarge, type DeliveryHandler, type DeliveryReply, type DeliveryRequest } from './app.js';
import { readToEnd } from '../util/read-stream.js';
import { DEFAULTS } from './defaults.js';

/**
 * Body bytes held across every request of one handler. A body is admitted when its size (Content-Length, or the
 * cap when chunked) still fits, and its share is released when it is read or abandoned; a body that does not fit
 * is refused (503) before a byte of it is read. One body is always admitted, so a cap above the budget still works.
 */
class BodyBudget {
  used = 0;
  constructor(readonly limit: number) {}
  take(bytes: number): boolean {
    if (this.used > 0 && this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }
  give(bytes: number): void {
    this.used -= bytes;
  }
}

/**
 * After a refusal sent before the body was read in full (413, 503 while shutting down), how long and how much of
 * the rest is read and thrown away before the connection is closed. Closing a socket with unread data makes the
 * kernel send a reset, and a client still writing may then lose the answer before it reads it; a short, bounded
 * linger lets it arrive, while a 100 MB upload stops being read after a few MB (and nothing is kept in memory).
 */
export const LINGER = { ms: 1000, bytes: 4 * 1024 * 1024 } as const;

const EMPTY = new Uint8Array(0);

/** Headers that node keeps only the first of, where web Headers join every value (h3 saw them joined). */
const FIRST_ONLY = new Set(['content-type']);

/** A WHATWG pathname for a request target, as the h3 adapter sees it (`new URL(...)`: dot segments resolved). */
export function targetPathname(target: string | undefined): string {
  if (target === undefined || target === '' || target === '/') return '/';
  if (target[0] === '/') return new URL(`http://localhost${target}`).pathname;
  if (target === '*') return '/*';
  // Absolute form (`POST http://host/path HTTP/1.1`).
  return URL.canParse(target) ? new URL(target).pathname || '/' : '/';
}

/** An IncomingMessage seen through the core's interface; methods on the prototype, so nothing is built per call. */
class NodeDeliveryRequest implements DeliveryRequest {
  constructor(
    readonly req: IncomingMessage,
    private readonly budget: BodyBudget,
  ) {}

  get method(): string {
    return this.req.method ?? 'GET';
  }

  pathname(): string {
    return targetPathname(this.req.url);
  }

  header(name: string): string | null {
    const value = this.req.headers[name];
    if (value === undefined) return null;
    if (typeof value !== 'string') return value.join(', ');
    if (FIRST_ONLY.has(name)) return joinedRawHeader(this.req.rawHeaders, name) ?? value;
    return value;
  }

  readBody(max: number): Promise<Uint8Array> {
    const req = this.req;
    // Nothing to wait for: the framing says there is no body (Content-Length: 0, or neither it nor Transfer-Encoding:
    // RFC 9112 §6.3), as for a ping, or the parser has seen the whole request and no body byte is buffered. The
    // handler runs before the parser marks even a body-less request complete, so the framing is what a ping meets.
    const length = req.headers['content-length'];
    if (
      length === '0' ||
      (length === undefined && req.headers['transfer-encoding'] === undefined) ||
      (req.complete && req.readableLength === 0)
    ) {
      req.resume();
      return Promise.resolve(EMPTY);
    }
    const declared = Number(req.headers['content-length']);
    const share = Number.isSafeInteger(declared) && declared >= 0 && declared <= max ? declared : max;
    if (!this.budget.take(share)) return Promise.reject(new BodyBudgetExhausted());
    const release = () => this.budget.give(share);
    // 'close' before 'end': the client went away, or node's request timeout cut it (it answered 408 itself).
    return readToEnd(req, max, { tooLarge: () => new BodyTooLarge(), closed: () => new Error('aborted') }).finally(release);
  }
}

/** Every value of a header node would keep only once, joined with `, ` (null when it appears at most once). */
function joinedRawHeader(raw: string[], name: string): string | null {
  let joined: string | null = null;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) {
      joined = count++ === 0 ? raw[i + 1]! : `${joined}, ${raw[i + 1]}`;
    }
  }
  return count > 1 ? joined : null;
}

function send(req: IncomingMessage, res: ServerResponse, reply: DeliveryReply): void {
  if (req.complete || req.destroyed || reply.headers.connection !== 'close') {
    res.writeHead(reply.status, reply.headers).end(reply.body);
    return;
  }
  // Refused before the body was read: the answer goes out in full now (its Content-Length tells the client it is
  // complete), the connection is closed once the client has finished sending or the bounded linger is over.
  res.writeHead(reply.status, reply.headers);
  res.write(reply.body);
  let discarded = 0;
  const finish = () => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', finish);
    req.off('close', finish);
    res.end();
  };
  const onData = (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded <= LINGER.bytes) return;
    // Past the byte bound: stop reading (the client's writes stall, nothing more is held) but close only at the
    // linger's end, so a client busy writing still gets the time to read the answer before the reset. Closing at
    // once lost the 413 of a fast chunked upload now and then: its reset came before the client read.
    req.off('data', onData);
    req.pause();
  };
  const timer = setTimeout(finish, LINGER.ms);
  req.on('data', onData);
  req.once('end', finish);
  req.once('close', finish);
}

/**
 * A node:http request handler over the webhook core: what `engine.handler` is and `engine.listen()` serves. Same
 * statuses, bodies and headers as the h3 app, without the web-standard Request/Response round trip.
 */
export function toNodeDeliveryHandler(
  handle: DeliveryHandler,
  options: { maxBodyBytesInFlight?: number } = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const budget = new BodyBudget(options.maxBodyBytesInFlight ?? DEFAULTS.maxBodyBytesInFlight);
  return (req, res) => {
    handle(new NodeDeliveryRequest(req, budget)).then(
      (reply) => send(req, res, reply),
      // The core answers its own errors (500); this only guards against a broken socket while writing.
      () => res.destroy(),
    );
  };
}
