/**
 * A tiny loopback HTTP host for engine tests: serves artifacts (plain, chunked, redirecting, failing) and receives
 * answers, recording their raw bytes. Everything binds 127.0.0.1 on a free port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sign } from '../../src/protocol/signature.js';

export interface ReceivedAnswer {
  path: string;
  /** The request target with its query string (`/answer?id=7`), to tell bounties apart. */
  url: string;
  raw: Buffer;
  json: Record<string, unknown>;
  contentType: string | undefined;
  /** Date.now() when it arrived. */
  at: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

export interface Loopback {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  origin: string;
  /** Registers a handler for an exact path. */
  route(path: string, handler: Handler): void;
  /** Serves `data` at `path` (Content-Length set, unless `chunked`). Returns the full URL. */
  artifact(path: string, data: Buffer | string, options?: { chunked?: boolean }): string;
  /**
   * An answer receiver at `path`: each POST is answered with the next status of `statuses` (the last one repeats;
   * default 200); only 2xx answers are recorded in `answers`. Returns the full URL.
   */
  receiver(path: string, statuses?: number[], headers?: Record<string, string>): string;
  /** Every request that reached the host (method and path), in order. */
  hits: { method: string; path: string }[];
  /** Accepted answers (2xx), in arrival order. */
  answers: ReceivedAnswer[];
  /** Every POST to a receiver, whatever it was answered. */
  attempts: { path: string; status: number; at: number }[];
  /** Resolves with the answers once `count` arrived on `path` (any path when omitted); rejects after `timeoutMs`. */
  waitForAnswers(count: number, options?: { path?: string; timeoutMs?: number }): Promise<ReceivedAnswer[]>;
  close(): Promise<void>;
}

/** Starts a loopback host on 127.0.0.1:0. Close it in afterEach/afterAll. */
export async function startLoopback(): Promise<Loopback> {
  const routes = new Map<string, Handler>();
  const hits: Loopback['hits'] = [];
  const answers: ReceivedAnswer[] = [];
  const attempts: Loopback['attempts'] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hits.push({ method: req.method ?? '', path });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const handler = routes.get(path);
      if (!handler) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      handler(req, res, Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const loopback: Loopback = {
    origin,
    hits,
    answers,
    attempts,
    route: (path, handler) => void routes.set(path, handler),
    artifact(path, data, options = {}) {
      const bytes = Buffer.from(data);
      routes.set(path, (_req, res) => {
        if (options.chunked) {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          // Several writes, so the engine sees a real chunked stream with no length to trust.
          for (let i = 0; i < bytes.length; i += 16 * 1024) res.write(bytes.subarray(i, i + 16 * 1024));
          res.end();
        } else {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
        }
      });
      return origin + path;
    },
    receiver(path, statuses = [200], headers = {}) {
      let n = 0;
      routes.set(path, (req, res, body) => {
        const status = statuses[Math.min(n++, statuses.length - 1)]!;
        attempts.push({ path, status, at: Date.now() });
        if (status >= 200 && status <= 299) {
          answers.push({
            path,
            url: req.url ?? path,
            raw: body,
            json: JSON.parse(body.toString('utf8')) as Record<string, unknown>,
            contentType: req.headers['content-type'],
            at: Date.now(),
          });
          for (const w of waiters) w();
        }
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end('"OK"');
      });
      return origin + path;
    },
    waitForAnswers(count, options = {}) {
      const timeoutMs = options.timeoutMs ?? 5000;
      const matching = () => answers.filter((a) => options.path === undefined || a.path === options.path);
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = matching();
          if (found.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `expected ${count} answer(s)${options.path ? ` on ${options.path}` : ''} within ${timeoutMs} ms, got ${matching().length}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return loopback;
}

export const SECRET = 'qwertyuiop';
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

/** A v1 bounty body as PolySwarm sends it; `overrides` replace or add keys (undefined removes one). */
export function bountyBody(overrides: Record<string, unknown> = {}): string {
  const base: Record<string, unknown> = {
    id: 1234567890,
    artifact_type: 'file',
    artifact_uri: 'http://127.0.0.1:9/artifact',
    expiration: new Date(Date.now() + 5000).toISOString(),
    response_url: 'http://127.0.0.1:9/answer',
    rules: { min_allowed_bid: 62500000000000000n, max_allowed_bid: 1000000000000000000n },
    phase: 'assertion',
    ...overrides,
  };
  for (const [k, v] of Object.entries(base)) if (v === undefined) delete base[k];
  // Bigints as digits, as the platform writes them (JSON.stringify cannot).
  return JSON.stringify(base, (_k, v: unknown) => (typeof v === 'bigint' ? `__BIG__${v}` : v)).replace(/"__BIG__(\d+)"/g, '$1');
}

export interface WebhookOptions {
  event?: string | null;
  delivery?: string;
  secret?: string;
  /** Override the signature header (null: none). */
  signature?: string | null;
  contentType?: string | null;
  method?: string;
  path?: string;
}

/** The method, headers and body of a signed webhook delivery. */
export function webhook(
  body: string | Buffer,
  options: WebhookOptions = {},
): { method: string; path: string; headers: Record<string, string>; body: Uint8Array<ArrayBuffer> } {
  const bytes = Buffer.from(body);
  const headers: Record<string, string> = {};
  const event = options.event === undefined ? 'bounty' : options.event;
  if (event !== null) headers['x-polyswarm-event'] = event;
  const signature = options.signature === undefined ? sign(options.secret ?? SECRET, bytes) : options.signature;
  if (signature !== null) headers['x-polyswarm-signature'] = signature;
  if (options.delivery) headers['x-polyswarm-delivery'] = options.delivery;
  const contentType = options.contentType === undefined ? (event === 'bounty' ? 'application/json' : null) : options.contentType;
  if (contentType !== null) headers['content-type'] = contentType;
  // A plain Uint8Array copy: fetch's BodyInit type does not take a Buffer over a shared ArrayBufferLike.
  return { method: options.method ?? 'POST', path: options.path ?? '/', headers, body: new Uint8Array(bytes) };
}

/** Re-exported for the tests that import it from here: test/helpers/poll.ts is the one polling helper. */
export { until } from './poll.js';
