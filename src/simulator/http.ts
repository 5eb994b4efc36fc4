import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** What came back from the engine: status, headers and the raw body bytes (capped), with the round-trip time. */
export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  ms: number;
}

/** The request never got an HTTP answer: refused, unresolvable, reset, or no answer within the timeout. */
export class NetworkError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetworkError';
    this.code = code;
  }
}

export interface SendOptions {
  method?: string;
  /** An array value sends the header once per value (two signature headers, for a case). */
  headers?: Record<string, string | string[]>;
  body?: Uint8Array;
  timeoutMs: number;
  /** Bytes of response body kept; an engine answering megabytes is not our concern beyond that. */
  maxBodyBytes?: number;
  /** A keep-alive agent (load runs, which measure the engine rather than connection setup); default one connection per request. */
  agent?: Agent;
}

const NETWORK_HINTS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/**
 * One HTTP request with exact bytes and headers. node:http rather than fetch: fetch adds headers of its own
 * (a Content-Type on some bodies), keeps connections alive past the run, and hides the error code in `cause`.
 * `Connection: close` and no agent, so a test's server can close at once.
 */
export function send(url: URL, options: SendOptions): Promise<HttpResponse> {
  const started = performance.now();
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const body = options.body ?? new Uint8Array(0);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: NetworkError | null, response?: HttpResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(response!);
    };
    const req = request(url, {
      method: options.method ?? 'POST',
      agent: options.agent ?? false,
      headers: { ...options.headers, 'Content-Length': String(body.byteLength), ...(options.agent ? {} : { Connection: 'close' }) },
    });
    const timer = setTimeout(() => {
      finish(new NetworkError(`no answer within ${options.timeoutMs} ms`, 'ETIMEDOUT'));
      req.destroy();
    }, options.timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? 'EUNKNOWN';
      finish(new NetworkError(NETWORK_HINTS[code] ?? error.message, code, { cause: error }));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < maxBody) chunks.push(chunk.subarray(0, maxBody - size));
        size += chunk.length;
      });
      res.on('error', (error: NodeJS.ErrnoException) => finish(new NetworkError(error.message, error.code ?? 'EUNKNOWN')));
      res.on('end', () =>
        finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ms: performance.now() - started }),
      );
    });
    req.end(body);
  });
}
