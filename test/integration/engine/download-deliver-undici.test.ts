/**
 * download.ts and deliver.ts over undici's request() and the shared keep-alive Agent: the behaviours fetch gave
 * for free (or that were easy to lose in the switch), socket reuse, and that nothing is leaked or kept alive.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { until } from '../../helpers/poll.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptTimeout, deliverAnswer } from '../../../src/engine/deliver.js';
import { downloadArtifact } from '../../../src/engine/download.js';
import { closeOutboundAgent, createOutbound } from '../../../src/engine/http-agent.js';
import { ArtifactError } from '../../../src/engine/types.js';
import { Cancellation } from '../../../src/util/abort.js';

/** A loopback server that counts TCP connections and records each request, with one handler per path. */
interface Host {
  origin: string;
  connections: number;
  /** Sockets the server still has open (a socket the engine leaked stays here). */
  open: Set<Socket>;
  requests: { method: string; path: string; headers: IncomingMessage['headers']; body: Buffer; at: number }[];
  route(path: string, handler: (req: IncomingMessage, res: ServerResponse) => void): void;
  close(): Promise<void>;
}

async function startHost(): Promise<Host> {
  const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  const open = new Set<Socket>();
  const host: Host = {
    origin: '',
    connections: 0,
    open,
    requests: [],
    route: (path, handler) => void routes.set(path, handler),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      host.requests.push({ method: req.method ?? '', path, headers: req.headers, body: Buffer.concat(chunks), at: Date.now() });
      const handler = routes.get(path);
      if (handler) handler(req, res);
      else res.writeHead(404).end('not found');
    });
  });
  server.keepAliveTimeout = 10_000;
  server.on('connection', (socket: Socket) => {
    host.connections++;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return host;
}

let host: Host;
beforeEach(async () => {
  host = await startHost();
});
afterEach(async () => {
  await host.close();
  await closeOutboundAgent();
});

const signal = () => AbortSignal.timeout(5000);

async function failure(promise: Promise<unknown>): Promise<ArtifactError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ArtifactError);
  return error as ArtifactError;
}

/**
 * With pipelining 1, undici hands a socket back to its pool one event-loop turn after the response ends, so a
 * request sent at once after the last may open a second connection; a few turns of the loop (not a guessed number
 * of milliseconds) make "one connection" fair.
 */
const pause = async () => {
  for (let turn = 0; turn < 3; turn++) await new Promise((r) => setImmediate(r));
};

describe('downloadArtifact over undici', () => {
  it('reuses keep-alive connections across downloads, 404s with a body and redirects (unwanted bodies are drained)', async () => {
    host.route('/a', (_req, res) => void res.writeHead(200, { 'content-length': 3 }).end('abc'));
    // Bodies bigger than a socket read, under undici's 128 KiB dump limit: unread, each would hold its socket.
    const page = Buffer.alloc(100 * 1024, 'x');
    host.route('/missing', (_req, res) => void res.writeHead(404, { 'content-length': page.length }).end(page));
    host.route('/moved', (_req, res) => void res.writeHead(302, { location: '/a', 'content-length': page.length }).end(page));
    for (let i = 0; i < 5; i++) {
      expect((await downloadArtifact(`${host.origin}/a`, { maxBytes: 10, signal: signal() })).toString()).toBe('abc');
      await pause();
    }
    expect(host.connections).toBe(1);
    for (let i = 0; i < 4; i++) {
      expect((await failure(downloadArtifact(`${host.origin}/missing`, { maxBytes: 10, signal: signal() }))).message).toMatch(
        /answered HTTP 404$/,
      );
      await pause();
      expect((await downloadArtifact(`${host.origin}/moved`, { maxBytes: 10, signal: signal() })).toString()).toBe('abc');
      await pause();
    }
    expect(host.requests).toHaveLength(5 + 4 * 3);
    // A redirect's next hop goes out before undici has the first socket back (it waits one loop turn), so it may
    // take a second one; a body left unread would instead hold its socket for good and cost one per 404/302.
    expect(host.connections).toBeLessThanOrEqual(2);
    expect(host.requests[0]!.headers['user-agent']).toBe('polyswarm-engine');
  });

  it('a Content-Length over the cap fails at once, without waiting for a body that never comes, and closes the socket', async () => {
    host.route('/huge', (_req, res) => {
      res.writeHead(200, { 'content-length': 1_000_000 });
      res.write('x');
    });
    const started = Date.now();
    const error = await failure(downloadArtifact(`${host.origin}/huge`, { maxBytes: 1000, signal: signal() }));
    expect(error.reason).toBe('too-large');
    expect(error.message).toBe('artifact is 1000000 bytes, over the 1000-byte limit');
    expect(Date.now() - started).toBeLessThan(1000);
    await until(() => host.open.size === 0, 'the engine to close the oversized download socket');
  });

  it('a body growing past the cap (no length) stops reading at the cap and closes the socket', async () => {
    host.route('/endless', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const timer = setInterval(() => res.write(Buffer.alloc(4096)), 1);
      res.on('close', () => clearInterval(timer));
    });
    const error = await failure(downloadArtifact(`${host.origin}/endless`, { maxBytes: 20_000, signal: signal() }));
    expect(error.reason).toBe('too-large');
    expect(error.message).toMatch(/^artifact is over the 20000-byte limit \(stopped reading at \d+ bytes\)$/);
    await until(() => host.open.size === 0, 'the engine to close the endless download socket');
  });

  it('follows exactly 5 redirects (relative Locations resolved), and refuses a 6th', async () => {
    for (let i = 1; i <= 6; i++) host.route(`/r${i}`, (_req, res) => void res.writeHead(307, { location: `r${i + 1}` }).end());
    host.route('/r7', (_req, res) => void res.writeHead(200).end('end'));
    expect((await downloadArtifact(`${host.origin}/r2`, { maxBytes: 10, signal: signal() })).toString()).toBe('end');
    expect(host.requests.map((r) => r.path)).toEqual(['/r2', '/r3', '/r4', '/r5', '/r6', '/r7']);
    host.requests.length = 0;
    const error = await failure(downloadArtifact(`${host.origin}/r1`, { maxBytes: 10, signal: signal() }));
    expect(error.reason).toBe('cannot-fetch');
    expect(error.message).toBe(`artifact download from ${host.origin}/r1 followed more than 5 redirects`);
    expect(host.requests).toHaveLength(6);
  });

  it('a redirect without a Location, a bad URI and credentials in the URI are cannot-fetch', async () => {
    host.route('/nowhere', (_req, res) => void res.writeHead(302).end());
    expect((await failure(downloadArtifact(`${host.origin}/nowhere`, { maxBytes: 10, signal: signal() }))).message).toMatch(
      /answered HTTP 302$/,
    );
    expect((await failure(downloadArtifact('not a url', { maxBytes: 10, signal: signal() }))).message).toBe(
      'artifact URI is not a URL: "not a url"',
    );
    const creds = await failure(
      downloadArtifact(`http://user:secret@127.0.0.1:${new URL(host.origin).port}/a`, { maxBytes: 10, signal: signal() }),
    );
    expect(creds.reason).toBe('cannot-fetch');
    expect(creds.message).not.toContain('secret');
    expect(host.requests).toHaveLength(1);
  });

  it('a refused connection names the network error', async () => {
    const error = await failure(downloadArtifact('http://127.0.0.1:1/x', { maxBytes: 10, signal: signal() }));
    expect(error.reason).toBe('cannot-fetch');
    expect(error.message).toMatch(/^artifact download from http:\/\/127\.0\.0\.1:1\/x failed: .*ECONNREFUSED/);
  });

  it('a deadline that fires before the headers come is timeout, and the hung request is closed', async () => {
    host.route('/silent', () => {});
    const error = await failure(downloadArtifact(`${host.origin}/silent`, { maxBytes: 10, signal: AbortSignal.timeout(200) }));
    expect(error.reason).toBe('timeout');
    await until(() => host.open.size === 0, 'the engine to close the timed-out socket');
  });

  it("the scan's Cancellation cuts a hung download too (undici takes it as its signal), and no listener stays on it", async () => {
    host.route('/silent', () => {});
    host.route('/a', (_req, res) => res.end('abc'));
    const cancel = new Cancellation();
    const hung = failure(downloadArtifact(`${host.origin}/silent`, { maxBytes: 10, signal: cancel }));
    await until(() => host.requests.length === 1, 'the request to arrive');
    cancel.abort(new Error('scan deadline reached'));
    expect((await hung).reason).toBe('timeout');
    await until(() => host.open.size === 0, 'the engine to close the cut socket');
    expect(cancel.listenerCount('abort')).toBe(0);
    const live = new Cancellation();
    expect((await downloadArtifact(`${host.origin}/a`, { maxBytes: 10, signal: live })).toString()).toBe('abc');
    expect(live.listenerCount('abort')).toBe(0);
  });

  it('an already aborted signal sends nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    expect((await failure(downloadArtifact(`${host.origin}/a`, { maxBytes: 10, signal: controller.signal }))).reason).toBe('timeout');
    expect(host.requests).toHaveLength(0);
  });

  it('a gzip-encoded artifact is decoded (as fetch did): sha256 and the cap apply to the decoded bytes', async () => {
    const plain = Buffer.from('the artifact, '.repeat(100));
    const sha = createHash('sha256').update(plain).digest('hex');
    host.route('/gz', (_req, res) => void res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(plain)));
    expect(await downloadArtifact(`${host.origin}/gz`, { maxBytes: plain.length, signal: signal(), sha256: sha })).toEqual(plain);
    // A small compressed body that inflates past the cap (a decompression bomb) stops at the cap.
    const bomb = gzipSync(Buffer.alloc(10_000_000));
    host.route('/bomb', (_req, res) => void res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': bomb.length }).end(bomb));
    expect(bomb.length).toBeLessThan(100_000);
    expect((await failure(downloadArtifact(`${host.origin}/bomb`, { maxBytes: 100_000, signal: signal() }))).reason).toBe('too-large');
    host.route('/corrupt', (_req, res) => void res.writeHead(200, { 'content-encoding': 'gzip' }).end('not gzip at all'));
    expect((await failure(downloadArtifact(`${host.origin}/corrupt`, { maxBytes: 100, signal: signal() }))).message).toMatch(/broke off/);
    host.route('/zstd', (_req, res) => void res.writeHead(200, { 'content-encoding': 'zstd' }).end('x'));
    expect((await failure(downloadArtifact(`${host.origin}/zstd`, { maxBytes: 100, signal: signal() }))).message).toMatch(
      /unknown Content-Encoding: zstd$/,
    );
    // Nothing asked for compression: a host that honours Accept-Encoding sends the artifact as it is.
    expect(host.requests[0]!.headers['accept-encoding']).toBeUndefined();
  });

  it('a host that stalls (no head, or no body chunk) fails at the idle timeout, long before the scan deadline', async () => {
    host.route('/silent', () => {});
    host.route('/trickle', (_req, res) => {
      res.writeHead(200, { 'content-length': 100 });
      res.write('a few bytes, then nothing');
    });
    const deadline = AbortSignal.timeout(30_000);
    for (const path of ['/silent', '/trickle']) {
      const error = await failure(
        downloadArtifact(`${host.origin}${path}?X-Amz-Signature=abc`, { maxBytes: 1000, signal: deadline, idleTimeoutMs: 200 }),
      );
      expect(error.reason, path).toBe('cannot-fetch');
      expect(error.message).toBe(`artifact download from ${host.origin}${path}?… stalled: the host sent nothing for 200 ms`);
    }
    expect(deadline.aborted).toBe(false);
  });

  it('under egress public a loopback artifact host is egress-refused and never connected to', async () => {
    host.route('/a', (_req, res) => void res.end('bytes'));
    const outbound = createOutbound({ mode: 'public', allow: [] });
    try {
      for (const origin of [
        host.origin,
        host.origin.replace('127.0.0.1', 'localhost'),
        host.origin.replace('127.0.0.1', '[::ffff:127.0.0.1]'),
        host.origin.replace('127.0.0.1', '2130706433'),
      ]) {
        const error = await failure(downloadArtifact(`${origin}/a`, { maxBytes: 1000, signal: signal(), outbound }));
        expect(error.reason, origin).toBe('egress-refused');
        expect(error.message, origin).toMatch(/the egress policy \(public\) refused .*not a public address/);
      }
      expect(host.connections).toBe(0);
      // The policy is the engine's own, not the process's: a download without it connects.
      expect((await downloadArtifact(`${host.origin}/a`, { maxBytes: 1000, signal: signal() })).toString()).toBe('bytes');
    } finally {
      await outbound.close();
    }
  });

  it('a server that closes mid-body is cannot-fetch (broke off), not a truncated artifact', async () => {
    host.route('/cut', (req, res) => {
      res.writeHead(200, { 'content-length': 100 });
      res.write('only part');
      setTimeout(() => req.socket.destroy(), 20);
    });
    const error = await failure(downloadArtifact(`${host.origin}/cut`, { maxBytes: 1000, signal: signal() }));
    expect(error.reason).toBe('cannot-fetch');
    expect(error.message).toMatch(new RegExp(`^artifact download from ${host.origin}/cut broke off: `));
  });
});

describe('deliverAnswer over undici', () => {
  const BODY = '{"verdict":"benign","bid":62500000000000000,"metadata":{}}';
  const request = (url: string, expiresInMs = 3000) => ({
    url,
    body: BODY,
    expiration: new Date(Date.now() + expiresInMs),
    bountyId: '7',
    key: '7:',
  });

  it('posts the exact bytes as JSON, reusing one keep-alive connection for many answers', async () => {
    host.route('/answer', (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('"OK"'));
    for (let i = 0; i < 5; i++) {
      expect(await deliverAnswer(request(`${host.origin}/answer`))).toEqual({ ok: true, status: 200, attempts: 1 });
      await pause();
    }
    expect(host.connections).toBe(1);
    const first = host.requests[0]!;
    expect(first.method).toBe('POST');
    expect(first.body.toString()).toBe(BODY);
    expect(first.headers['content-type']).toBe('application/json');
    expect(first.headers['content-length']).toBe(String(Buffer.byteLength(BODY)));
  });

  it('another 4xx is not retried, and a 3xx other than 307/308 is a refusal that names the redirect', async () => {
    host.route('/bad', (_req, res) => void res.writeHead(400).end('{"error":"bad"}'));
    host.route('/found', (_req, res) => void res.writeHead(302, { location: '/bad?token=secret' }).end());
    expect(await deliverAnswer(request(`${host.origin}/bad`))).toEqual({ ok: false, status: 400, attempts: 1, error: 'HTTP 400' });
    expect(await deliverAnswer(request(`${host.origin}/found`))).toEqual({
      ok: false,
      status: 302,
      attempts: 1,
      error: `HTTP 302 redirect to ${host.origin}/bad?… not followed: an answer is re-posted only by a 307/308 to the same origin`,
    });
    expect(host.requests.map((r) => r.path)).toEqual(['/bad', '/found']);
  });

  it('a 307 or 308 to another origin is not followed: the other origin receives nothing', async () => {
    const other = await startHost();
    try {
      other.route('/answer', (_req, res) => void res.writeHead(200).end());
      host.route('/moved', (_req, res) => void res.writeHead(308, { location: `${other.origin}/answer` }).end());
      expect(await deliverAnswer(request(`${host.origin}/moved`))).toEqual({
        ok: false,
        status: 308,
        attempts: 1,
        error: `HTTP 308 redirect to ${other.origin}/answer not followed: an answer is re-posted only by a 307/308 to the same origin`,
      });
      expect(other.requests).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('under egress public a loopback receiver is refused once, without a request and without retries', async () => {
    host.route('/answer', (_req, res) => void res.writeHead(200).end());
    const refusing = createOutbound({ mode: 'public', allow: [] });
    // An exception for the receiver's address lets it through.
    const excepting = createOutbound({ mode: 'public', allow: ['127.0.0.1'] });
    try {
      const result = await deliverAnswer(request(`${host.origin}/answer`), { outbound: refusing });
      expect(result).toMatchObject({ ok: false, status: null, attempts: 1 });
      expect(result.error).toMatch(/^the egress policy \(public\) refused 127\.0\.0\.1: not a public address/);
      expect(host.connections).toBe(0);
      expect(await deliverAnswer(request(`${host.origin}/answer`), { outbound: excepting })).toEqual({
        ok: true,
        status: 200,
        attempts: 1,
      });
    } finally {
      await refusing.close();
      await excepting.close();
    }
  });

  it('follows a 308 chain to the receiver keeping method and body; stops after maxRedirects', async () => {
    host.route('/answer', (_req, res) => void res.writeHead(201).end());
    host.route('/hop1', (_req, res) => void res.writeHead(308, { location: '/hop2' }).end());
    host.route('/hop2', (_req, res) => void res.writeHead(307, { location: `${host.origin}/answer` }).end());
    host.route('/loop', (_req, res) => void res.writeHead(307, { location: '/loop' }).end());
    expect(await deliverAnswer(request(`${host.origin}/hop1`))).toEqual({ ok: true, status: 201, attempts: 1 });
    expect(host.requests.map((r) => [r.method, r.path, r.body.toString()])).toEqual([
      ['POST', '/hop1', BODY],
      ['POST', '/hop2', BODY],
      ['POST', '/answer', BODY],
    ]);
    host.requests.length = 0;
    expect(await deliverAnswer(request(`${host.origin}/loop`), { maxRedirects: 2 })).toEqual({
      ok: false,
      status: 307,
      attempts: 1,
      error: `more than 2 redirects (last to ${host.origin}/loop)`,
    });
    expect(host.requests).toHaveLength(3);
  });

  it('a 307 to a non-http URL is refused at once, not retried until the expiration', async () => {
    host.route('/ftp', (_req, res) => void res.writeHead(307, { location: 'ftp://127.0.0.1/answer' }).end());
    expect(await deliverAnswer(request(`${host.origin}/ftp`))).toEqual({
      ok: false,
      status: 307,
      attempts: 1,
      error: 'HTTP 307 redirect to ftp://127.0.0.1/answer, not an http(s) URL; not followed',
    });
  });

  it('a hung attempt is cut at the per-attempt timeout and closed; the retry is delivered', async () => {
    let n = 0;
    host.route('/answer', (_req, res) => {
      if (n++ === 0) return; // the first attempt never gets an answer
      res.writeHead(200).end();
    });
    const started = Date.now();
    const result = await deliverAnswer(request(`${host.origin}/answer`), { attemptTimeoutMs: 200, baseDelayMs: 10 });
    expect(result).toEqual({ ok: true, status: 200, attempts: 2 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(1500);
    // The hung attempt's socket was closed by the engine; only the reusable one may stay open.
    await until(() => host.open.size <= 1, 'the hung attempt to be closed');
  });

  it('a receiver slower than 5 s, with time to spare: one attempt waits for it, so one answer (a retry could be a second)', async () => {
    let n = 0;
    host.route('/answer', (_req, res) => {
      n++;
      setTimeout(() => res.writeHead(200).end(), 5500);
    });
    const result = await deliverAnswer(request(`${host.origin}/answer`, 20_000));
    expect(result).toEqual({ ok: true, status: 200, attempts: 1 });
    expect(n).toBe(1);
  }, 15_000);

  it('the default attempt timeout: half the time left, at least 5 s, at most 30 s', () => {
    expect(attemptTimeout(48_000)).toBe(24_000);
    expect(attemptTimeout(4_000)).toBe(5_000);
    expect(attemptTimeout(10 * 60_000)).toBe(30_000);
  });

  it('a 5xx then a 429 with Retry-After: 1 then 200: waits the second, three attempts', async () => {
    let n = 0;
    host.route('/answer', (_req, res) => {
      n++;
      if (n === 1) res.writeHead(500).end('oops');
      else if (n === 2) res.writeHead(429, { 'retry-after': '1' }).end();
      else res.writeHead(200).end();
    });
    const result = await deliverAnswer(request(`${host.origin}/answer`), { baseDelayMs: 10 });
    expect(result).toEqual({ ok: true, status: 200, attempts: 3 });
    const [, second, third] = host.requests;
    expect(third!.at - second!.at).toBeGreaterThanOrEqual(990);
    expect(host.connections).toBe(1);
  });

  it('a receiver that is down: the error is the network code, and nothing is sent after the expiration', async () => {
    const expiration = Date.now() + 600;
    const result = await deliverAnswer({ ...request('http://127.0.0.1:1/answer'), expiration: new Date(expiration) }, { baseDelayMs: 20 });
    expect(result).toMatchObject({ ok: false, status: null, error: 'ECONNREFUSED' });
    expect(result.attempts).toBeGreaterThanOrEqual(3);
    expect(Date.now()).toBeLessThan(expiration + 300);
  });

  it('after closeOutboundAgent a new Agent is made: delivery still works', async () => {
    host.route('/answer', (_req, res) => void res.writeHead(200).end());
    expect((await deliverAnswer(request(`${host.origin}/answer`))).ok).toBe(true);
    await closeOutboundAgent();
    await until(() => host.open.size === 0, 'the closed Agent to drop its socket');
    expect((await deliverAnswer(request(`${host.origin}/answer`))).ok).toBe(true);
    expect(host.connections).toBe(2);
  });
});

describe('the shared Agent and the process', () => {
  it('a process that downloaded and delivered exits on its own while its keep-alive sockets are still open', async () => {
    host.route('/a', (_req, res) => void res.writeHead(200).end('abc'));
    host.route('/answer', (_req, res) => void res.writeHead(200).end());
    // The built modules (`npm test` builds first): a child transpiling src/ through jiti with a cold cache took over
    // 15 s on a loaded machine, and this test is about sockets, not about loading TypeScript.
    const built = (name: string) => fileURLToPath(new URL(`../../../dist/engine/${name}.js`, import.meta.url));
    const script = `
      const d = await import(${JSON.stringify(built('download'))});
      const p = await import(${JSON.stringify(built('deliver'))});
      const bytes = await d.downloadArtifact(${JSON.stringify(`${host.origin}/a`)}, { maxBytes: 10, signal: AbortSignal.timeout(5000) });
      const result = await p.deliverAnswer({ url: ${JSON.stringify(`${host.origin}/answer`)}, body: '{}', expiration: new Date(Date.now() + 5000), bountyId: '1', key: '1:' });
      console.log(bytes.toString(), JSON.stringify(result));
    `;
    const child = execa('node', ['--input-type=module', '-e', script], {
      reject: false,
      // A guard against a hang only: the exit time that matters is measured below.
      timeout: 60_000,
      env: { ...process.env, NO_COLOR: '1', CI: '1' },
    });
    let printedAt = 0;
    child.stdout.on('data', () => (printedAt ||= Date.now()));
    const result = await child;
    const exitedAt = Date.now();
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('abc {"ok":true,"status":200,"attempts":1}');
    expect(result.exitCode).toBe(0);
    // Its sockets stay pooled for the Agent's 4 s keep-alive (and the host keeps them 10 s): an exit before the
    // keep-alive ran out means the pooled sockets did not hold the event loop open.
    expect(exitedAt - printedAt).toBeLessThan(4000);
  });
});
