/**
 * The production listener. Node's defaults are too lax for an internet-facing webhook receiver (headers 60 s,
 * request 300 s, timeouts checked every 30 s), so slow clients are cut within seconds (decisions.md).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

export interface ListenOptions {
  port?: number;
  host?: string;
  logger?: Logger;
}

export interface Listener {
  /** `http://host:port/`, with the real port when 0 was asked for. */
  url: string;
  server: Server;
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

/** Serves `handler` on a node:http server with strict timeouts, on 127.0.0.1:3000 unless told otherwise. */
export async function listenWithTimeouts(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: ListenOptions = {},
): Promise<Listener> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 3000;
  // connectionsCheckingInterval only works as a constructor option: it is read once, before listen().
  const server = createServer({ ...SERVER_TIMEOUTS }, handler);
  server.headersTimeout = SERVER_TIMEOUTS.headersTimeout;
  server.requestTimeout = SERVER_TIMEOUTS.requestTimeout;
  server.keepAliveTimeout = SERVER_TIMEOUTS.keepAliveTimeout;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A malformed request or a client too slow to send its headers: answer if the socket still can, never crash.
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
    socket.end(response);
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${actualPort}/`,
    server,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), 5000);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
