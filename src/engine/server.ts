/**
 * The production listener. Node's defaults are too lax for an internet-facing webhook receiver (headers 60 s,
 * request 300 s, timeouts checked every 30 s), so slow clients are cut within seconds (docs/protocol.md §12).
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { capsForFileLimit, ConnectionGuard, type ConnectionState, type ConnectionStats, openFileLimit } from './connections.js';
import { DEFAULTS } from './defaults.js';
import { integerOption } from './errors.js';
import { LINGER } from './node-handler.js';

export interface ListenOptions {
  port?: number;
  host?: string;
  logger?: Logger;
  /**
   * Connections held at once (default DEFAULTS.maxConnections, lowered to fit the open-file limit). Past it, a new
   * connection takes the place of an idle or slow one of the busiest address (connections.ts), or is refused.
   */
  maxConnections?: number;
  /**
   * Connections held at once from one client address, an IPv6 client's /64 (default
   * DEFAULTS.maxConnectionsPerAddress, at most maxConnections). Behind a reverse proxy every connection comes from
   * the proxy: raise it to maxConnections there and let the proxy limit each client.
   */
  maxConnectionsPerAddress?: number;
}

/** Responses a socket still owes (pipelined requests answered in order: see the clientError handler). */
const OWED = Symbol('responses owed');
/** The socket's latest request: the parser's error is about it unless it arrived complete. */
const LAST = Symbol('last request');
/** What to do once a socket owes nothing more. */
const THEN = Symbol('then');
type TrackedSocket = Duplex & { [OWED]?: number; [LAST]?: IncomingMessage; [THEN]?: () => void };

/** Idle: nothing owed (no request yet, between keep-alive requests, or headers not complete); receiving: a body. */
function connectionState(socket: TrackedSocket): ConnectionState {
  if ((socket[OWED] ?? 0) === 0) return 'idle';
  return socket[LAST]?.complete === false ? 'receiving' : 'answering';
}

export interface Listener {
  /** `http://host:port/`, with the real port when 0 was asked for. */
  url: string;
  server: Server;
  /** Connections held now, the caps in force, and how many were refused or cut to make room. */
  connections(): ConnectionStats;
  /** Stops accepting, lets in-flight requests finish (at most 5 s), then drops what is left. Idempotent. */
  close(): Promise<void>;
}

export const SERVER_TIMEOUTS = {
  headersTimeout: 10_000,
  requestTimeout: 15_000,
  keepAliveTimeout: 5_000,
  connectionsCheckingInterval: 1_000,
} as const;

function clientErrorResponse(status: number, reason: string, message: string): string {
  const body = JSON.stringify({ error: message });
  return `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/**
 * After answering a request the parser refused, reads and throws away what the client still sends (bounded, as in
 * node-handler.ts) before closing, so a client in the middle of a body reads the answer instead of a reset. The
 * request has no framing node still trusts, so the linger lasts its time (then a clean close) or until its byte
 * bound is passed (then the connection is cut).
 */
function lingerThenClose(socket: Duplex): void {
  let discarded = 0;
  const stop = (cut: boolean) => {
    clearTimeout(timer);
    socket.off('data', onData);
    if (cut) socket.destroy();
    else socket.end(() => socket.destroy());
  };
  const onData = (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > LINGER.bytes) stop(true);
  };
  const timer = setTimeout(() => stop(false), LINGER.ms);
  timer.unref();
  socket.on('data', onData);
  socket.once('close', () => clearTimeout(timer));
}

/** The caps of `options`, checked, the global one lowered to fit the process's open-file limit (`ulimit -n`). */
function connectionGuard(options: ListenOptions): ConnectionGuard {
  const requested = integerOption('listen', 'maxConnections', options.maxConnections, DEFAULTS.maxConnections);
  const perAddress = integerOption(
    'listen',
    'maxConnectionsPerAddress',
    options.maxConnectionsPerAddress,
    DEFAULTS.maxConnectionsPerAddress,
  );
  const fileLimit = openFileLimit();
  const caps = capsForFileLimit(requested, fileLimit);
  if (caps.maxConnections < requested) {
    options.logger?.warn('connection cap lowered to fit the open-file limit (raise it with ulimit -n)', {
      requested,
      fileLimit,
      cap: caps.maxConnections,
    });
  }
  return new ConnectionGuard({ ...caps, maxConnectionsPerAddress: perAddress, stateOf: connectionState, logger: options.logger });
}

/** Serves `handler` on a node:http server with strict timeouts, on 127.0.0.1:3000 unless told otherwise. */
export async function listenWithTimeouts(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: ListenOptions = {},
): Promise<Listener> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 3000;
  // Each socket counts the responses it still owes, so that the parser's own refusal of a later pipelined request
  // is written after them, in order, and not ahead of a 202 still being computed.
  const tracked = (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as TrackedSocket;
    socket[OWED] = (socket[OWED] ?? 0) + 1;
    socket[LAST] = req;
    res.once('close', () => {
      socket[OWED] = socket[OWED]! - 1;
      if (socket[OWED] === 0) socket[THEN]?.();
    });
    handler(req, res);
  };
  // Constructor options (Node ≥ 18), as connectionsCheckingInterval must be: it is read once, before listen().
  const server = createServer({ ...SERVER_TIMEOUTS }, tracked);
  // Not server.maxConnections: node drops every connection past it at accept, a fresh client's as well as a hog's.
  // The guard decides before node:http sets a connection up (its one 'connection' listener), so a refused one
  // costs its accept and close only.
  const guard = connectionGuard(options);
  const setUp = server.listeners('connection')[0] as (socket: Socket) => void;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    if (guard.admit(socket)) setUp.call(server, socket);
  });
  const answered = new WeakSet<Duplex>();
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A malformed request or a client too slow to send its headers: answer if the socket still can, never crash.
    // The parser reports its error again for each later chunk of the refused request: those are the linger's.
    if (answered.has(socket) && error.code !== 'ECONNRESET') return;
    options.logger?.debug('client error', { code: error.code, error: errorMessage(error) });
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const response =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? clientErrorResponse(408, 'Request Timeout', 'Request not received in time')
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? clientErrorResponse(431, 'Request Header Fields Too Large', 'Request headers too large')
          : clientErrorResponse(400, 'Bad Request', 'Malformed HTTP request');
    answered.add(socket);
    // Written, not ended: a FIN now would stop a client that is still sending its body (it ends its side too and
    // then fails its next write). Content-Length and Connection: close tell it the answer is complete.
    const answer = () => {
      if (!socket.writable) return void socket.destroy();
      socket.write(response);
      lingerThenClose(socket);
    };
    // A request pipelined after complete ones still being answered: this answer goes after theirs, in the order
    // asked. When the latest request is itself incomplete (timed out, or its body failed to parse), the error is
    // about it, whose handler waits for a body that will never come: answered now, as before.
    const owing = socket as TrackedSocket;
    if ((owing[OWED] ?? 0) > 0 && owing[LAST]?.complete) owing[THEN] = answer;
    else answer();
  });
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${actualPort}/`,
    server,
    connections: () => guard.stats(),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), 5000);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
        guard.close();
      });
      return closing;
    },
  };
}
