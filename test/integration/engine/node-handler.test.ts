/**
 * The node:http adapter (`engine.handler`, what `engine.listen()` serves) against the h3 adapter (`engine.fetch`):
 * one core, so every status, body and header must agree; plus what only a socket shows (the linger after an early
 * 413, request-target paths, repeated headers) and the per-delivery log line.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../../src/engine/engine.js';
import { LINGER, targetPathname } from '../../../src/engine/node-handler.js';
import { sign } from '../../../src/protocol/signature.js';
import { createLogger, type LogLevel } from '../../../src/util/logger.js';
import { bountyBody, SECRET, startLoopback, webhook, type Loopback, type WebhookOptions } from '../../helpers/loopback.js';

let engine: Engine | undefined;
let server: Server | undefined;
let lb: Loopback;
const sockets = new Set<Socket>();

// Artifact host and answer receiver of the accepted bounties, so that close() finds them answered at once.
beforeAll(async () => {
  lb = await startLoopback();
  lb.artifact('/artifact', 'benign bytes');
});
afterAll(async () => {
  await lb.close();
});

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
  }
  await engine?.close({ graceMs: 0 });
  engine = undefined;
});

/** An engine whose `handler` is served by a plain node:http server (no listen(): the handler must stand alone). */
async function boot(options: { maxBodyBytes?: number; level?: LogLevel } = {}) {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  engine = createEngine({
    secret: SECRET,
    maxBodyBytes: options.maxBodyBytes,
    logger: createLogger({ level: options.level ?? 'info', format: 'json', stream }),
    module: { scan: () => ({ verdict: 'benign' }) },
  });
  server = createServer(engine.handler);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { port, lines };
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const COMPARED_HEADERS = ['content-type', 'content-length', 'allow', 'retry-after'];

function pick(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of COMPARED_HEADERS) {
    const value = headers.get(name);
    if (value !== null) out[name] = value;
  }
  return out;
}

async function viaFetch(body: string, options: WebhookOptions): Promise<Answer> {
  const w = webhook(body, options);
  const hasBody = w.method !== 'GET' && w.method !== 'HEAD';
  const response = await engine!.fetch(
    new Request(`http://engine.test${w.path}`, { method: w.method, headers: w.headers, body: hasBody ? w.body : undefined }),
  );
  return { status: response.status, headers: pick(response.headers), body: await response.text() };
}

async function viaSocket(port: number, body: string, options: WebhookOptions): Promise<Answer> {
  const w = webhook(body, options);
  const hasBody = w.method !== 'GET' && w.method !== 'HEAD';
  const response = await fetch(`http://127.0.0.1:${port}${w.path}`, {
    method: w.method,
    headers: w.headers,
    body: hasBody ? w.body : undefined,
  });
  return { status: response.status, headers: pick(response.headers), body: await response.text() };
}

/**
 * Writes `head` on a raw socket, then `body` (all at once, or `paceMs` apart in 64 KiB pieces), and collects
 * everything until the server closes. Resolves with what was read, the socket error if any, and when it closed.
 */
function exchange(port: number, head: string, body?: Buffer, timeoutMs = 5000, paceMs?: number) {
  return new Promise<{ text: string; error?: string; closedAfterMs: number; sent: number }>((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    sockets.add(socket);
    let text = '';
    let error: string | undefined;
    let sent = 0;
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (text += c));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, error, closedAfterMs: Date.now() - started, sent });
    });
    const timer = setTimeout(() => socket.destroy(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      socket.write(head);
      if (!body) return;
      if (paceMs === undefined) {
        socket.write(body);
        sent = body.length;
        return;
      }
      let offset = 0;
      const next = () => {
        if (socket.destroyed || offset >= body.length) return;
        const piece = body.subarray(offset, (offset += 64 * 1024));
        socket.write(piece, (e) => (sent += e ? 0 : piece.length));
        setTimeout(next, paceMs);
      };
      next();
    });
  });
}

describe('targetPathname: the path the core routes on, as the h3 adapter (a WHATWG URL) sees it', () => {
  it.each([
    ['/', '/'],
    ['/?x=1', '/'],
    ['/a/../', '/'],
    ['/./', '/'],
    ['/#frag', '/'],
    ['//x', '//x'],
    ['/%zz', '/%zz'],
    ['/other?q', '/other'],
    ['*', '/*'],
    ['http://example.com/p?q=1', '/p'],
    ['http://example.com', '/'],
    ['not a url', '/'],
  ])('%s → %s', (target, pathname) => {
    expect(targetPathname(target)).toBe(pathname);
  });
});

describe('engine.handler on a plain node:http server answers exactly as engine.fetch', () => {
  const bounty = () => bountyBody({ response_url: lb.receiver('/answer'), artifact_uri: `${lb.origin}/artifact` });
  const cases: [string, () => string, WebhookOptions][] = [
    ['GET / (liveness)', () => '', { method: 'GET', signature: null, event: null }],
    ['GET /elsewhere', () => '', { method: 'GET', path: '/elsewhere', signature: null, event: null }],
    ['unsigned ping', () => '', { event: 'ping', signature: null }],
    ['wrong signature', () => '', { event: 'ping', signature: 'f'.repeat(64) }],
    ['signed ping', () => '', { event: 'ping' }],
    ['signed ping, uppercase event and signature', () => '', { event: 'PING', signature: sign(SECRET, '').toUpperCase() }],
    ['signed ping to /other?q', () => '', { event: 'ping', path: '/other?q' }],
    ['signed ping to /a/../', () => '', { event: 'ping', path: '/a/../' }],
    ['signed PUT', () => '', { event: 'ping', method: 'PUT' }],
    ['signed analyze', () => '', { event: 'analyze' }],
    ['signed, no event', () => '', { event: null }],
    ['valid bounty', bounty, { delivery: 'node-handler-1' }],
    ['same delivery again', bounty, { delivery: 'node-handler-1' }],
    ['bounty not JSON', () => '{nope', {}],
    ['bounty missing fields', () => '{"id":1}', {}],
    ['bounty with text/plain', () => '{}', { contentType: 'text/plain' }],
    ['bounty over the cap', () => 'x'.repeat(5000), {}],
  ];

  it.each(cases)('%s', async (_name, body, options) => {
    const { port } = await boot({ maxBodyBytes: 4096 });
    const text = body();
    const socket = await viaSocket(port, text, options);
    const fetched = await viaFetch(text, options);
    expect(socket).toEqual(fetched);
    expect(socket.headers['content-length']).toBe(String(Buffer.byteLength(socket.body)));
  });

  it('a HEAD is checked over zero bytes whatever follows it, as a web Request has no HEAD body', async () => {
    const { port } = await boot();
    const body = '{"some":"bytes"}';
    const head =
      `HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-POLYSWARM-EVENT: ping\r\n` +
      `X-POLYSWARM-SIGNATURE: ${sign(SECRET, body)}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const r = await exchange(port, head, Buffer.from(body));
    expect(r.text).toMatch(/^HTTP\/1\.1 401 /);
    const emptySigned = await exchange(port, head.replace(sign(SECRET, body), sign(SECRET, '')), Buffer.from(body));
    // Signed over zero bytes, it passes the check and reaches routing: HEAD is not allowed on /.
    expect(emptySigned.text).toMatch(/^HTTP\/1\.1 405 /);
  });

  it('a repeated Content-Type is read joined, as web Headers give it (so not JSON: 415), not first-only as node keeps it', async () => {
    const { port } = await boot();
    const body = bounty();
    const head =
      `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-POLYSWARM-EVENT: bounty\r\nX-POLYSWARM-SIGNATURE: ${sign(SECRET, body)}\r\n` +
      `Content-Type: application/json\r\ncontent-type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const r = await exchange(port, head, Buffer.from(body));
    expect(r.text).toMatch(/^HTTP\/1\.1 415 /);
    expect(r.text).toContain('{"error":"Unsupported Content-Type \\"application/json, text/plain\\"; a bounty is application/json"}');
  });
});

describe('refusing a body before reading it (413 on the declared length)', () => {
  const head = (length: number) =>
    `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-POLYSWARM-EVENT: bounty\r\nX-POLYSWARM-SIGNATURE: ${'0'.repeat(64)}\r\nContent-Length: ${length}\r\n\r\n`;

  it('a client still sending its (moderate) body after the 413 finishes and reads it, with no reset', async () => {
    const { port } = await boot({ maxBodyBytes: 1024 });
    // 1 MiB in 64 KiB pieces 10 ms apart (~160 ms): closing as soon as the 413 is written would reset this client
    // mid-body; under LINGER.bytes and LINGER.ms it is read and thrown away, then the connection closes cleanly.
    const size = 1024 * 1024;
    expect(size).toBeLessThan(LINGER.bytes);
    const r = await exchange(port, head(size), Buffer.alloc(size, 0x20), 5000, 10);
    expect(r.error).toBeUndefined();
    expect(r.sent).toBe(size);
    expect(r.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(r.text).toMatch(/connection: close/i);
    const json = '{"error":"Request body is larger than 1024 bytes"}';
    expect(r.text).toContain(`content-length: ${json.length}\r\n`);
    expect(r.text.endsWith(json)).toBe(true);
  });

  it('a client that sends nothing more gets the 413 at once and the connection closed after the bounded linger', async () => {
    const { port } = await boot({ maxBodyBytes: 1024 });
    const r = await exchange(port, head(10 * 1024 * 1024));
    expect(r.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(LINGER.ms - 50);
    expect(r.closedAfterMs).toBeLessThan(LINGER.ms + 3000);
    const ping = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: { 'x-polyswarm-event': 'ping', 'x-polyswarm-signature': sign(SECRET, '') },
    });
    expect(ping.status).toBe(200);
  });

  it('a client that keeps sending far past the linger bound is cut, not read to the end', async () => {
    const { port } = await boot({ maxBodyBytes: 1024 });
    const size = 64 * 1024 * 1024;
    const r = await exchange(port, head(size), Buffer.alloc(size, 0x20), 10_000);
    // Whether the 413 or a reset reaches this client first is the kernel's business; it must not take the 64 MB.
    if (r.text !== '') expect(r.text).toMatch(/^HTTP\/1\.1 413 /);
    else expect(r.error).toMatch(/EPIPE|ECONNRESET/);
    expect(r.closedAfterMs).toBeLessThan(LINGER.ms + 5000);
  });
});

describe('the per-delivery log line through the node adapter', () => {
  it('one info line per delivery with event, delivery, bounty, status and ack_ms; none for GET', async () => {
    const { port, lines } = await boot();
    const body = bountyBody({ id: 41, response_url: lb.receiver('/answer'), artifact_uri: `${lb.origin}/artifact` });
    const w = webhook(body, { delivery: 'log-1' });
    expect((await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: w.headers, body: w.body })).status).toBe(202);
    expect((await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: w.headers, body: w.body })).status).toBe(202);
    expect((await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'x-polyswarm-event': 'ping' } })).status).toBe(400);
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    const deliveries = lines.filter((l) => l.msg === 'delivery');
    expect(deliveries).toHaveLength(3);
    expect(deliveries[0]).toMatchObject({ level: 'info', event: 'bounty', delivery: 'log-1', bounty: '41', status: 202 });
    expect(deliveries[0]).not.toHaveProperty('duplicate');
    expect(deliveries[1]).toMatchObject({ delivery: 'log-1', bounty: '41', duplicate: true, status: 202 });
    expect(deliveries[2]).toMatchObject({ event: 'ping', delivery: null, status: 400 });
    expect(deliveries[2]).not.toHaveProperty('bounty');
    for (const line of deliveries) expect(typeof line.ack_ms).toBe('number');
    expect(engine!.stats()).toMatchObject({ received: 3, accepted: 1, duplicates: 1, rejected: 1 });
  });

  it('LOG_LEVEL=warn writes no delivery line, and the counters still count', async () => {
    const { port, lines } = await boot({ level: 'warn' });
    const ping = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: { 'x-polyswarm-event': 'ping', 'x-polyswarm-signature': sign(SECRET, '') },
    });
    expect(ping.status).toBe(200);
    expect(lines.filter((l) => l.msg === 'delivery')).toHaveLength(0);
    expect(engine!.stats()).toMatchObject({ received: 1, rejected: 0 });
  });
});

describe("a request node's parser refuses (engine.listen's clientError answer)", () => {
  it('a client still sending a body after the 400 finishes and reads it, with no reset', async () => {
    engine = createEngine({ secret: SECRET, module: { scan: () => ({ verdict: 'benign' }) } });
    const port = Number(new URL((await engine.listen({ port: 0 })).url).port);
    const size = 1024 * 1024;
    const head = `BREW / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${size}\r\n\r\n`;
    const r = await exchange(port, head, Buffer.alloc(size, 0x20), 5000, 10);
    expect(r.error).toBeUndefined();
    expect(r.sent).toBe(size);
    expect(r.text).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(r.text).toContain('{"error":"Malformed HTTP request"}');
  });
});
