/**
 * The status table of docs/protocol.md §3, row by row, through `app.fetch(new Request(...))` and again over a real
 * listener.
 */
import { request as httpRequest } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type EngineOptions } from '../../../src/engine/engine.js';
import type { BountyQueue } from '../../../src/engine/queue.js';
import { sign } from '../../../src/protocol/signature.js';
import { createLogger } from '../../../src/util/logger.js';
import { bountyBody, SECRET, startLoopback, until, webhook, type Loopback, type WebhookOptions } from '../../helpers/loopback.js';
import { holds, work } from '../../helpers/poll.js';

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

type Mode = 'app.fetch' | 'listener';

describe.each<Mode>(['app.fetch', 'listener'])('webhook endpoint via %s', (mode) => {
  let lb: Loopback;
  let engine: Engine;
  let url: string;
  let scans: string[];

  async function boot(options: Partial<EngineOptions> = {}) {
    engine = createEngine({
      secret: SECRET,
      deliveryMarginMs: 500,
      module: {
        scan: (bounty) => {
          scans.push(bounty.id);
          return { verdict: 'benign' };
        },
      },
      ...options,
    });
    if (mode === 'listener') url = (await engine.listen({ port: 0 })).url;
  }

  async function send(body: string | Buffer, options: WebhookOptions = {}): Promise<Reply> {
    const w = webhook(body, options);
    const hasBody = w.method !== 'GET' && w.method !== 'HEAD';
    const init = { method: w.method, headers: w.headers, body: hasBody ? w.body : undefined };
    const response =
      mode === 'app.fetch' ? await engine.fetch(new Request(`http://engine.test${w.path}`, init)) : await fetch(new URL(w.path, url), init);
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  const bounty = (overrides: Record<string, unknown> = {}) =>
    bountyBody({ response_url: lb.receiver('/answer'), artifact_uri: `${lb.origin}/artifact`, ...overrides });

  beforeEach(async () => {
    scans = [];
    lb = await startLoopback();
  });
  afterEach(async () => {
    await engine?.close({ graceMs: 0 });
    await lb.close();
  });

  it('GET / is liveness, without a signature: 200 {"status":"OK"} as compact JSON', async () => {
    await boot();
    const r = await send('', { method: 'GET', signature: null, event: null });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.text).toBe('{"status":"OK"}');
  });

  it('GET / answers 503 saying why when the queue is not healthy', async () => {
    const sick: BountyQueue = {
      enqueue: async () => 'accepted',
      health: async () => ({ ok: false, detail: 'redis: connection refused' }),
      counts: () => ({ waiting: 0, active: 0 }),
      close: async () => {},
      description: 'a sick queue',
      cutJobs: 'answer',
      start: () => {},
    };
    await boot({ queue: sick });
    const r = await send('', { method: 'GET', signature: null, event: null });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text)).toEqual({ status: 'UNAVAILABLE', detail: 'redis: connection refused' });
    expect(r.headers.get('retry-after')).toBe('5');
  });

  it('a POST without a signature: 400, even on an unknown path (checked before routing)', async () => {
    await boot();
    for (const path of ['/', '/other']) {
      const r = await send(bounty(), { signature: null, path });
      expect(r.status).toBe(400);
      expect(r.text).toBe('{"X-POLYSWARM-SIGNATURE":"Signature not included in headers"}');
    }
    expect(engine.stats().rejected).toBe(2);
  });

  it('a signature that does not match: 401 (wrong key, empty, non-hex, wrong length, sha256= prefix, Latin-1)', async () => {
    await boot();
    const body = bounty();
    const good = sign(SECRET, body);
    for (const signature of [sign('other', body), '', 'zz'.repeat(32), good.slice(1), `sha256=${good}`, 'é'.repeat(64)]) {
      const r = await send(body, { signature });
      expect(r.status, signature).toBe(401);
      expect(r.text).toBe('{"X-POLYSWARM-SIGNATURE":"Signature does not match body"}');
    }
    expect(scans).toEqual([]);
  });

  it('an uppercase-hex signature is accepted', async () => {
    await boot();
    const r = await send('', { event: 'ping', signature: sign(SECRET, '').toUpperCase() });
    expect(r.status).toBe(200);
  });

  it('a signed ping (empty body, no Content-Type): 200 {"status":"OK"}; the event name is case-insensitive', async () => {
    await boot();
    for (const event of ['ping', 'PING', 'Ping']) {
      const r = await send('', { event });
      expect(r.status).toBe(200);
      expect(r.text).toBe('{"status":"OK"}');
    }
  });

  it('a valid bounty: 202 {"status":"ACCEPTED"} before any scan, then answered', async () => {
    await boot();
    const r = await send(bounty());
    expect(r.status).toBe(202);
    expect(r.text).toBe('{"status":"ACCEPTED"}');
    // The artifact host was never asked for anything on the request path (and this scan never asks).
    expect(lb.hits.filter((h) => h.path === '/artifact')).toEqual([]);
    if (mode === 'app.fetch') expect(scans).toEqual([]);
    const [answer] = await lb.waitForAnswers(1);
    expect(answer!.json.verdict).toBe('benign');
    expect(scans).toEqual(['1234567890']);
    await engine.idle();
    expect(engine.stats()).toMatchObject({ received: 1, accepted: 1, answered: 1, rejected: 0 });
  });

  it('a bounty body that is not JSON: 400 JSON with the parser error, never HTML', async () => {
    await boot();
    const r = await send('{"id": 1,');
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toBe('application/json');
    const body = JSON.parse(r.text);
    expect(body.bounty).toBe('Invalid bounty request');
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].path).toBe('');
    expect(body.errors[0].message).toMatch(/not valid JSON/);
  });

  it('a bounty that is not an object, or lacks fields: 400 with every error by path', async () => {
    await boot();
    const list = JSON.parse((await send('[1,2]')).text);
    expect(list.errors).toEqual([{ path: '', message: expect.stringMatching(/must be a JSON object/) }]);
    const r = await send(bounty({ response_url: undefined, expiration: 'tomorrow' }));
    expect(r.status).toBe(400);
    const paths = JSON.parse(r.text).errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['/response_url', '/expiration']));
    expect(scans).toEqual([]);
  });

  it('any other event, or none: 400 {"X-POLYSWARM-EVENT":"Given event not supported"}', async () => {
    await boot();
    for (const event of ['analyze', null]) {
      const r = await send('', { event, contentType: null });
      expect(r.status).toBe(400);
      expect(r.text).toBe('{"X-POLYSWARM-EVENT":"Given event not supported"}');
    }
  });

  it('unknown path (signed): 404 JSON; other method on / (signed): 405 JSON', async () => {
    await boot();
    const notFound = await send('', { event: 'ping', path: '/other' });
    expect(notFound.status).toBe(404);
    expect(JSON.parse(notFound.text)).toEqual({ error: 'Not found: POST /other' });
    const put = await send('', { event: 'ping', method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');
    expect(JSON.parse(put.text)).toEqual({ error: 'Method PUT not allowed on /' });
    const get = await send('', { method: 'GET', path: '/nope', signature: null });
    expect(get.status).toBe(404);
    expect(get.headers.get('content-type')).toBe('application/json');
  });

  it('a body over the cap: 413 JSON, nothing scanned', async () => {
    await boot({ maxBodyBytes: 1024 });
    const big = bounty({ padding: 'x'.repeat(2000) });
    const r = await send(big);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.text)).toEqual({ error: 'Request body is larger than 1024 bytes' });
    expect(scans).toEqual([]);
    // Exactly at the cap is fine.
    const exact = bounty({ padding: '' });
    const padded = bounty({ padding: 'x'.repeat(1024 - Buffer.byteLength(exact)) });
    expect(Buffer.byteLength(padded)).toBe(1024);
    expect((await send(padded)).status).toBe(202);
  });

  it('an explicit non-JSON Content-Type on a bounty: 415 JSON; +json, parameters and a missing type are accepted', async () => {
    await boot();
    const r = await send(bounty(), { contentType: 'text/plain' });
    expect(r.status).toBe(415);
    expect(JSON.parse(r.text).error).toMatch(/text\/plain/);
    const ok = ['application/json; charset=utf-8', 'application/vnd.polyswarm+json', 'APPLICATION/JSON', null];
    for (const [i, contentType] of ok.entries()) {
      const reply = await send(bounty({ id: 100 + i }), { contentType });
      expect(reply.status, String(contentType)).toBe(202);
    }
  });

  it('queue full: 503 JSON with Retry-After, nothing silently dropped', async () => {
    await boot({
      concurrency: 1,
      capacity: 1,
      module: { scan: (_b, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({ verdict: 'unknown' }))) },
    });
    const expiration = new Date(Date.now() + 2500).toISOString();
    expect((await send(bounty({ id: 1, expiration }))).status).toBe(202);
    await until(() => engine.stats().running === 1, 'the first scan to start');
    expect((await send(bounty({ id: 2, expiration }))).status).toBe(202);
    const full = await send(bounty({ id: 3, expiration }));
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('5');
    expect(JSON.parse(full.text)).toEqual({ error: 'Queue full; retry later' });
    expect(engine.stats()).toMatchObject({ accepted: 2, queued: 1, running: 1, rejected: 1 });
  });

  it('a queue that cannot store the bounty: 503 with Retry-After, not 500', async () => {
    const { QueueUnavailableError } = await import('../../../src/engine/queue.js');
    const down: BountyQueue = {
      enqueue: async () => {
        throw new QueueUnavailableError('redis: connection refused');
      },
      health: async () => ({ ok: true }),
      counts: () => ({ waiting: 0, active: 0 }),
      close: async () => {},
      description: 'a queue that is down',
      cutJobs: 'answer',
      start: () => {},
    };
    await boot({ queue: down });
    const r = await send(bounty());
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('5');
    expect(JSON.parse(r.text)).toEqual({ error: 'Queue unavailable: redis: connection refused' });
  });

  it('a bounty already expired on arrival: 202, not queued, never answered, one warning', async () => {
    const lines: string[] = [];
    const stream = { write: (line: string) => lines.push(line) } as unknown as NodeJS.WritableStream;
    await boot({ logger: createLogger({ level: 'info', format: 'json', stream }) });
    const r = await send(bounty({ expiration: new Date(Date.now() - 1000).toISOString() }));
    expect(r.status).toBe(202);
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'warn');
    expect(warnings.map((w) => w.msg)).toEqual(['bounty already expired on arrival; accepted but not scanned']);
    expect(engine.stats()).toMatchObject({ accepted: 0, expired: 1, queued: 0 });
    await holds(() => scans.length === 0 && lb.attempts.length === 0, 'no scan and no answer', 300);
    expect(scans).toEqual([]);
    expect(lb.attempts).toEqual([]);
  });

  it('a naive expiration (no UTC offset) is read as UTC, accepted and warned about in the log', async () => {
    const lines: string[] = [];
    const stream = { write: (line: string) => lines.push(line) } as unknown as NodeJS.WritableStream;
    await boot({ logger: createLogger({ level: 'info', format: 'json', stream }) });
    const naive = new Date(Date.now() + 3000).toISOString().replace('Z', '');
    expect((await send(bounty({ expiration: naive }))).status).toBe(202);
    const warning = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'bounty warning');
    expect(warning).toMatchObject({ level: 'warn', bounty: '1234567890' });
    expect(String(warning.warning)).toMatch(/offset|UTC/i);
    await lb.waitForAnswers(1);
  });

  it('one log line per delivery with event, delivery, status and ack_ms', async () => {
    const lines: string[] = [];
    const stream = { write: (line: string) => lines.push(line) } as unknown as NodeJS.WritableStream;
    await boot({ logger: createLogger({ level: 'info', format: 'json', stream }) });
    await send(bounty(), { delivery: 'd-1' });
    await send('', { event: 'ping', signature: 'bad' });
    const deliveries = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'delivery');
    expect(deliveries).toHaveLength(2);
    expect(deliveries[0]).toMatchObject({ event: 'bounty', delivery: 'd-1', status: 202, bounty: '1234567890' });
    expect(deliveries[1]).toMatchObject({ event: 'ping', delivery: null, status: 401, reason: 'Signature does not match body' });
    expect(deliveries[0]).not.toHaveProperty('reason');
    for (const d of deliveries) expect(typeof d.ack_ms).toBe('number');
    await lb.waitForAnswers(1);
    await engine.idle();
    const answer = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'answer');
    expect(answer).toMatchObject({ bounty: '1234567890', verdict: 'benign', bid: '1000000000000000000', delivery: 200 });
  });

  it('the same delivery id twice: 202 both times, one scan, one answer', async () => {
    await boot();
    const body = bounty();
    expect((await send(body, { delivery: 'abc' })).status).toBe(202);
    expect((await send(body, { delivery: 'abc' })).status).toBe(202);
    await lb.waitForAnswers(1);
    await engine.idle();
    expect(scans).toHaveLength(1);
    expect(lb.answers).toHaveLength(1);
    expect(engine.stats()).toMatchObject({ accepted: 1, duplicates: 1 });
  });

  it('without a delivery id, the bounty id and phase are the dedup key', async () => {
    await boot();
    expect((await send(bounty({ id: 7, phase: 'assertion' }))).status).toBe(202);
    expect((await send(bounty({ id: 7, phase: 'assertion' }))).status).toBe(202);
    expect((await send(bounty({ id: 7, phase: 'arbitration' }))).status).toBe(202);
    await lb.waitForAnswers(2);
    await engine.idle();
    expect(scans).toEqual(['7', '7']);
    expect(engine.stats()).toMatchObject({ accepted: 2, duplicates: 1 });
  });

  it('while shutting down, new requests get 503 with Retry-After', async () => {
    await boot({
      concurrency: 1,
      module: { scan: () => work(300).then(() => ({ verdict: 'benign' as const })) },
    });
    expect((await send(bounty())).status).toBe(202);
    await until(() => engine.stats().running === 1, 'the scan to start');
    const closed = engine.close({ graceMs: 2000 });
    const r = await send('', { event: 'ping' });
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('5');
    await closed;
    expect(lb.answers).toHaveLength(1);
  });

  it('an unexpected exception in a handler: 500 JSON, logged, and the server keeps serving', async () => {
    const errors: string[] = [];
    const base = createLogger({ level: 'silent' });
    const logger = {
      ...base,
      warn: (message: string) => {
        if (message === 'bounty warning') throw new Error('logger exploded');
      },
      error: (message: string) => void errors.push(message),
      child: () => logger,
    };
    await boot({ logger });
    const naive = new Date(Date.now() + 3000).toISOString().replace('Z', '');
    const r = await send(bounty({ expiration: naive }));
    expect(r.status).toBe(500);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(r.text)).toEqual({ error: 'Internal error; see the engine log' });
    expect(errors).toContain('unexpected error handling a request');
    expect((await send('', { event: 'ping' })).status).toBe(200);
  });
});

describe('webhook endpoint over a real socket only', () => {
  let lb: Loopback;
  let engine: Engine;
  let url: URL;

  beforeEach(async () => {
    lb = await startLoopback();
    engine = createEngine({ secret: SECRET, maxBodyBytes: 1024, module: { scan: () => ({ verdict: 'benign' }) } });
    url = new URL((await engine.listen({ port: 0 })).url);
  });
  afterEach(async () => {
    await engine.close({ graceMs: 0 });
    await lb.close();
  });

  /** Sends a request by hand, so the test controls Content-Length and chunking. */
  function raw(headers: Record<string, string | number>, write: (req: ReturnType<typeof httpRequest>) => void) {
    return new Promise<{ status: number; headers: Record<string, unknown>; text: string; sentBytes: number }>((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: '/', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            text: Buffer.concat(chunks).toString(),
            sentBytes: req.socket?.bytesWritten ?? 0,
          }),
        );
      });
      req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
      req.on('error', reject);
      write(req);
    });
  }

  it('a Content-Length over the cap: 413 at once, Connection: close, without reading the body', async () => {
    const r = await raw(
      { 'content-length': 10 * 1024 * 1024, 'x-polyswarm-event': 'bounty', 'x-polyswarm-signature': 'a'.repeat(64) },
      (req) => req.write('{"id":'), // only the first bytes are ever sent; the server must not wait for the rest
    );
    expect(r.status).toBe(413);
    expect(r.headers.connection).toBe('close');
    expect(JSON.parse(r.text)).toEqual({ error: 'Request body is larger than 1024 bytes' });
  });

  it('a chunked body over the cap: 413 once the count passes the cap, Connection: close', async () => {
    const r = await raw(
      { 'transfer-encoding': 'chunked', 'x-polyswarm-event': 'bounty', 'x-polyswarm-signature': 'a'.repeat(64) },
      (req) => {
        // 600 + 600 bytes pass the 1024 cap; the stream is then left open, so only an early 413 can end this.
        req.write('x'.repeat(600));
        setTimeout(() => req.write('x'.repeat(600)), 20);
      },
    );
    expect(r.status).toBe(413);
    expect(r.headers.connection).toBe('close');
  });

  it('a malformed request line gets a 400 JSON from clientError and the server keeps serving', async () => {
    const { connect } = await import('node:net');
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let data = '';
      socket.on('data', (c) => (data += c));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
      socket.setTimeout(5000, () => socket.destroy(new Error('no reply')));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(reply).toMatch(/Content-Type: application\/json/);
    const ping = await fetch(url, { method: 'POST', headers: { 'x-polyswarm-event': 'ping', 'x-polyswarm-signature': sign(SECRET, '') } });
    expect(ping.status).toBe(200);
  });

  it('the listener has the strict timeouts of docs/protocol.md §12', async () => {
    const listener = await engine.listen({ port: 0 });
    expect(listener.server.headersTimeout).toBe(10_000);
    expect(listener.server.requestTimeout).toBe(15_000);
    expect(listener.server.keepAliveTimeout).toBe(5_000);
    expect(listener.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });
});
