/**
 * Faults around the scan, against a real `polyswarm-engine start` process: an artifact host that hangs, resets,
 * lies about its length or never stops sending; an answer receiver that hangs, resets, or answers 500/429 before
 * 200; a scan that rejects, never settles, or settles after its answer was sent; and SIGTERM with work in flight.
 * For each: exactly one answer before the expiration where one is possible, nothing posted after it, no crash, and
 * no leaked timer or socket: the process exits by itself, promptly, once told to stop.
 * (The in-process unit tests in test/unit/engine already cover 404s, declared and chunked oversize artifacts,
 * hash mismatches, 503-then-200, Retry-After, a throwing scan; a redirect loop and a receiver that is down are run
 * here again only so that the process-level checks, no crash and a prompt exit, cover them too.)
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../../src/protocol/signature.js';
import { bountyBody, until } from '../../helpers/loopback.js';
import { within } from '../../helpers/poll.js';
import { removeProject, SECRET, socketsOf, startEngine, writeProject, type EngineProcess } from './harness.js';

/** The bounty id says what the scan does (the engine's own deadline handling is what is under test). */
const SCAN = `
export function scan(bounty, { signal }) {
  const [kind, arg] = String(bounty.id).split(':');
  switch (kind) {
    case 'reject':
      return Promise.reject(new Error('scan rejected on purpose'));
    case 'never':
      // Never settles and holds nothing: the engine must answer at the deadline and not wait for it.
      return new Promise(() => {});
    case 'late':
      // Ignores its signal and resolves well after the answer went out: that must not become a second answer.
      return new Promise((resolve) => setTimeout(() => resolve({ verdict: 'malicious' }), Number(arg)));
    case 'slow':
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve({ verdict: 'benign' }), Number(arg));
        signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
      });
    case 'fetch':
      return bounty.fetchArtifact().then((bytes) => ({ verdict: 'benign', metadata: { malware_family: 'bytes:' + bytes.length } }));
    default:
      return { verdict: 'benign' };
  }
}
`;

interface Attempt {
  at: number;
  /** When the exchange ended: answered, or the connection closed (the engine gave up on a hung one). */
  closedAt?: number;
  status?: number;
}

interface Answer {
  at: number;
  json: { verdict: string; bid?: unknown; metadata: { comments?: string[]; malware_family?: string } };
}

type Behaviour = (req: IncomingMessage, res: ServerResponse, attempt: number) => void;

/** The PolySwarm side, with a behaviour per path for artifact downloads and answer POSTs. */
class FaultHost {
  readonly server: Server;
  origin = '';
  readonly behaviours = new Map<string, Behaviour>();
  readonly attempts = new Map<string, Attempt[]>();
  readonly answers = new Map<string, Answer[]>();
  /** Bytes written by the endless artifact, and whether the engine closed that connection. */
  endless = { written: 0, closed: false };

  constructor() {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      const attempt: Attempt = { at: Date.now() };
      const list = this.attempts.get(path) ?? [];
      list.push(attempt);
      this.attempts.set(path, list);
      // The exchange is over: answered, or the connection closed (by the engine giving up, for a hung one).
      res.once('close', () => (attempt.closedAt = Date.now()));
      req.on('end', () => {
        const behaviour = this.behaviours.get(path);
        if (!behaviour) {
          res.writeHead(404).end();
          return;
        }
        if (req.method === 'POST') {
          const json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['json'];
          const original = res.writeHead.bind(res);
          // Record an answer only when this attempt is answered 2xx: that is an accepted answer.
          res.writeHead = ((status: number, ...rest: unknown[]) => {
            attempt.status = status;
            if (status >= 200 && status < 300) {
              const accepted = this.answers.get(path) ?? [];
              accepted.push({ at: Date.now(), json });
              this.answers.set(path, accepted);
            }
            return (original as (...a: unknown[]) => ServerResponse)(status, ...rest);
          }) as typeof res.writeHead;
        }
        behaviour(req, res, list.length);
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  on(path: string, behaviour: Behaviour): string {
    this.behaviours.set(path, behaviour);
    return this.origin + path;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A raw TCP "HTTP server" for responses node:http would not write (a Content-Length that lies). */
async function rawHost(response: (socket: Socket) => void): Promise<{ url: string; server: TcpServer }> {
  const server = createTcpServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => response(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/artifact`, server };
}

const ok: Behaviour = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('"OK"');
const hang: Behaviour = () => {};
const reset: Behaviour = (req) => req.socket.destroy();

let host: FaultHost;
const raws: TcpServer[] = [];
let project: string;
let engine: EngineProcess;

async function submit(target: EngineProcess, body: string): Promise<number> {
  const response = await fetch(target.url, {
    method: 'POST',
    headers: { 'x-polyswarm-event': 'bounty', 'x-polyswarm-signature': sign(SECRET, body), 'content-type': 'application/json' },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

interface Case {
  name: string;
  id: string;
  expiresInMs: number;
  artifact?: string;
  sha256?: string;
  receiver?: Behaviour;
  /** Instead of this host's /answer/<name>. */
  responseUrl?: string;
  expiration?: number;
}

const cases = new Map<string, Case>();
const answersOf = (name: string) => host.answers.get(`/answer/${name}`) ?? [];
const attemptsOf = (name: string) => host.attempts.get(`/answer/${name}`) ?? [];
const comments = (answer: Answer) => answer.json.metadata.comments ?? [];

beforeAll(async () => {
  host = new FaultHost();
  await host.start();

  // Artifact hosts.
  const artifactHangs = host.on('/artifact/hangs', hang);
  const artifactResets = host.on('/artifact/resets', reset);
  const artifactBreaksOff = host.on('/artifact/breaks-off', (req, res) => {
    res.writeHead(200, { 'content-length': '100000' });
    res.write(Buffer.alloc(1000));
    setTimeout(() => req.socket.destroy(), 50);
  });
  const artifactEndless = host.on('/artifact/endless', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(256 * 1024, 0x41);
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) host.endless.written += chunk.length;
      if (!res.destroyed) host.endless.written += chunk.length;
    };
    res.on('drain', pump);
    res.once('close', () => (host.endless.closed = true));
    pump();
  });
  const artifactLoop = host.on('/artifact/loop', (_req, res) => res.writeHead(302, { location: '/artifact/loop' }).end());
  // A receiver that is down: a port that was just listening and is now closed.
  const down = createServer();
  await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
  const downUrl = `http://127.0.0.1:${(down.address() as AddressInfo).port}/answer/receiver-down`;
  await new Promise((resolve) => down.close(resolve));
  const longer = await rawHost((socket) => {
    // Promises 100,000 bytes, sends 10, closes.
    socket.end('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n0123456789');
  });
  const shorterBody = Buffer.alloc(5000, 0x42);
  const shorter = await rawHost((socket) => {
    // Says 10 bytes, sends 5,000: the engine must take 10 (HTTP framing), so the sha256 of all 5,000 cannot match.
    socket.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n'), shorterBody]));
  });
  raws.push(longer.server, shorter.server);

  const list: Case[] = [
    { name: 'artifact-hangs', id: 'fetch:1', expiresInMs: 4000, artifact: artifactHangs },
    { name: 'artifact-resets', id: 'fetch:2', expiresInMs: 4000, artifact: artifactResets },
    { name: 'artifact-breaks-off', id: 'fetch:3', expiresInMs: 4000, artifact: artifactBreaksOff },
    { name: 'artifact-endless', id: 'fetch:4', expiresInMs: 6000, artifact: artifactEndless },
    { name: 'artifact-longer', id: 'fetch:5', expiresInMs: 4000, artifact: longer.url },
    { name: 'artifact-redirect-loop', id: 'fetch:7', expiresInMs: 4000, artifact: artifactLoop },
    {
      name: 'artifact-shorter',
      id: 'fetch:6',
      expiresInMs: 4000,
      artifact: shorter.url,
      sha256: createHash('sha256').update(shorterBody).digest('hex'),
    },
    {
      name: 'receiver-hangs-then-200',
      id: 'ok:1',
      expiresInMs: 9000,
      receiver: (req, res, n) => (n === 1 ? hang(req, res, n) : ok(req, res, n)),
    },
    {
      name: 'receiver-resets-then-200',
      id: 'ok:2',
      expiresInMs: 4000,
      receiver: (req, res, n) => (n === 1 ? reset(req, res, n) : ok(req, res, n)),
    },
    {
      name: 'receiver-500-429-200',
      id: 'ok:3',
      expiresInMs: 5000,
      receiver: (req, res, n) =>
        n === 1 ? res.writeHead(500).end() : n === 2 ? res.writeHead(429, { 'retry-after': '1' }).end() : ok(req, res, n),
    },
    { name: 'receiver-hangs-always', id: 'ok:4', expiresInMs: 3500, receiver: hang },
    { name: 'receiver-down', id: 'ok:5', expiresInMs: 3500, responseUrl: downUrl },
    { name: 'scan-rejects', id: 'reject:1', expiresInMs: 4000 },
    { name: 'scan-never-settles', id: 'never:1', expiresInMs: 3500 },
    { name: 'scan-settles-late', id: 'late:5000', expiresInMs: 3500 },
  ];

  project = writeProject(SCAN);
  engine = await startEngine(project, ['--concurrency', '16']);
  for (const c of list) {
    host.on(`/answer/${c.name}`, c.receiver ?? ok);
    c.expiration = Date.now() + c.expiresInMs;
    cases.set(c.name, c);
    const body = bountyBody({
      id: c.id,
      artifact_uri: c.artifact ?? `${host.origin}/artifact/none`,
      response_url: c.responseUrl ?? `${host.origin}/answer/${c.name}`,
      expiration: new Date(c.expiration).toISOString(),
      ...(c.sha256 ? { sha256: c.sha256 } : {}),
    });
    expect(await submit(engine, body), c.name).toBe(202);
  }
  // Everything is decided by the last expiration (the late scan resolves 1.5 s after its own, checked below).
  const last = Math.max(...list.map((c) => c.expiration!));
  await until(() => Date.now() > last + 1000, 'the last expiration', 15_000);
}, 30_000);

afterAll(async () => {
  await engine?.kill();
  await host?.close();
  for (const server of raws) server.close();
  if (project) removeProject(project);
});

/** Exactly one accepted answer, posted before the expiration, and no attempt at all after it. */
function expectOneAnswerInTime(name: string): Answer {
  const c = cases.get(name)!;
  const answers = answersOf(name);
  expect(answers, `${name}: accepted answers`).toHaveLength(1);
  expect(answers[0]!.at, `${name}: answered before the expiration`).toBeLessThan(c.expiration!);
  for (const attempt of attemptsOf(name)) expect(attempt.at, `${name}: no attempt after the expiration`).toBeLessThan(c.expiration!);
  return answers[0]!;
}

describe('faults around the scan, in a real start process', () => {
  it('artifact host that hangs: SKIPPED:TIMEOUT at the scan deadline, answered before the expiration', () => {
    const answer = expectOneAnswerInTime('artifact-hangs');
    expect(answer.json).toMatchObject({ verdict: 'unknown', bid: 0 });
    expect(comments(answer)).toEqual(['SKIPPED:TIMEOUT']);
    // The engine gave up on the hanging download: its connection is closed, not left open until the host dies.
    const download = host.attempts.get('/artifact/hangs')!;
    expect(download).toHaveLength(1);
    expect(download[0]!.closedAt, 'the hanging download connection was closed by the engine').toBeDefined();
  });

  it('artifact host that resets the connection: SKIPPED:CANNOT-FETCH', () => {
    expect(comments(expectOneAnswerInTime('artifact-resets'))).toEqual(['SKIPPED:CANNOT-FETCH']);
  });

  it('artifact host that breaks off mid-body: SKIPPED:CANNOT-FETCH', () => {
    expect(comments(expectOneAnswerInTime('artifact-breaks-off'))).toEqual(['SKIPPED:CANNOT-FETCH']);
  });

  it('artifact host that never stops sending: SKIPPED:TOO-LARGE, and the engine closes the stream at the cap', () => {
    expect(comments(expectOneAnswerInTime('artifact-endless'))).toEqual(['SKIPPED:TOO-LARGE']);
    expect(host.endless.closed).toBe(true);
    // 64 MiB cap, plus what socket buffers held when the engine stopped reading.
    expect(host.endless.written).toBeLessThan(96 * 1024 * 1024);
  });

  it('artifact host that promises more bytes than it sends: SKIPPED:CANNOT-FETCH', () => {
    expect(comments(expectOneAnswerInTime('artifact-longer'))).toEqual(['SKIPPED:CANNOT-FETCH']);
  });

  it('artifact host that redirects in a loop: SKIPPED:CANNOT-FETCH after at most 5 redirects', () => {
    expect(comments(expectOneAnswerInTime('artifact-redirect-loop'))).toEqual(['SKIPPED:CANNOT-FETCH']);
    expect(host.attempts.get('/artifact/loop')!.length).toBeLessThanOrEqual(6);
  });

  it('artifact host that sends more bytes than it declares: only the declared bytes count (sha256 mismatch)', () => {
    expect(comments(expectOneAnswerInTime('artifact-shorter'))).toEqual(['SKIPPED:HASH-MISMATCH']);
  });

  it('answer receiver that hangs on the first POST: that attempt is abandoned, the retry is accepted, once', () => {
    const answer = expectOneAnswerInTime('receiver-hangs-then-200');
    expect(answer.json.verdict).toBe('benign');
    const attempts = attemptsOf('receiver-hangs-then-200');
    expect(attempts).toHaveLength(2);
    expect(attempts[0]!.closedAt, 'the hung attempt was closed by the engine').toBeDefined();
  });

  it('answer receiver that resets the first POST: retried, one accepted answer', () => {
    expectOneAnswerInTime('receiver-resets-then-200');
    expect(attemptsOf('receiver-resets-then-200')).toHaveLength(2);
  });

  it('answer receiver answering 500, then 429, then 200: one accepted answer after three attempts', () => {
    expectOneAnswerInTime('receiver-500-429-200');
    expect(attemptsOf('receiver-500-429-200').map((a) => a.status)).toEqual([500, 429, 200]);
  });

  it('answer receiver that always hangs: no answer is possible; nothing is attempted after the expiration and no attempt is left open', () => {
    const c = cases.get('receiver-hangs-always')!;
    expect(answersOf('receiver-hangs-always')).toHaveLength(0);
    const attempts = attemptsOf('receiver-hangs-always');
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    for (const attempt of attempts) {
      expect(attempt.at).toBeLessThan(c.expiration!);
      expect(attempt.closedAt, 'every hung attempt was closed by the engine').toBeDefined();
    }
  });

  it('answer receiver that is down: retried until the expiration, then logged as not delivered (once)', () => {
    const lines = engine
      .output()
      .split('\n')
      .filter((l) => l.includes('answer not delivered') && l.includes('ok:5'));
    expect(lines, engine.output().slice(-3000)).toHaveLength(1);
    expect(lines[0]).toMatch(/ECONNREFUSED/);
  });

  it('scan that rejects: unknown, bid 0, ERROR:<message>', () => {
    const answer = expectOneAnswerInTime('scan-rejects');
    expect(answer.json).toMatchObject({ verdict: 'unknown', bid: 0 });
    expect(comments(answer)).toEqual(['ERROR:scan rejected on purpose']);
  });

  it('scan that never settles: SKIPPED:TIMEOUT before the expiration', () => {
    expect(comments(expectOneAnswerInTime('scan-never-settles'))).toEqual(['SKIPPED:TIMEOUT']);
  });

  it('scan that ignores its signal and settles after the answer went out: still exactly one answer', async () => {
    // It resolves 5 s after submission, 1.5 s past its expiration: wait for that before counting.
    await until(() => Date.now() > cases.get('scan-settles-late')!.expiration! + 2000, 'the late scan to settle', 10_000);
    expect(comments(expectOneAnswerInTime('scan-settles-late'))).toEqual(['SKIPPED:TIMEOUT']);
    expect(attemptsOf('scan-settles-late')).toHaveLength(1);
  });

  it('no crash, no leaked timer or socket: after all of that, SIGTERM ends the process promptly with exit 0', async () => {
    expect(engine.child.exitCode, engine.output()).toBeNull();
    const live = await fetch(engine.url);
    expect(live.status).toBe(200);
    await live.arrayBuffer();
    const signalled = Date.now();
    engine.child.kill('SIGTERM');
    const exit = await within(engine.exited, 8000);
    expect(exit, `still running 8 s after SIGTERM (a leaked timer or socket?)\n${engine.output().slice(-3000)}`).toBeDefined();
    expect(exit!.code).toBe(0);
    console.log(`faults: exited ${exit!.at - signalled} ms after SIGTERM`);
    expect(engine.output()).not.toMatch(/uncaught|unhandled|FATAL|\n\s+at .*\.js:\d+/i);
  });
});

describe('SIGTERM with work in flight', () => {
  it('--queue memory: scans running, bounties queued, a delivery retrying: each answered exactly once, before the process exits 0', async () => {
    const dir = writeProject(SCAN);
    // The in-memory queue answers what waits at SIGTERM; the default journaled queue keeps it (answer-guarantee.test.ts).
    const target = await startEngine(dir, ['--concurrency', '2', '--queue', 'memory']);
    try {
      const now = Date.now();
      const submitted: { name: string; expiration: number }[] = [];
      const send = async (name: string, id: string, expiresInMs: number, receiver: Behaviour = ok) => {
        host.on(`/answer/${name}`, receiver);
        const expiration = now + expiresInMs;
        submitted.push({ name, expiration });
        const body = bountyBody({
          id,
          response_url: `${host.origin}/answer/${name}`,
          artifact_uri: `${host.origin}/artifact/none`,
          expiration: new Date(expiration).toISOString(),
        });
        expect(await submit(target, body)).toBe(202);
      };
      // Two scans that honour their signal hold both slots; their deadline (expiration − 2 s) comes 3 s from now.
      await send('term-running-1', 'slow:60000:1', 5000);
      await send('term-running-2', 'slow:60000:2', 5000);
      // Queued behind them: answered SKIPPED:SHUTDOWN at once on SIGTERM.
      for (let i = 0; i < 20; i++) await send(`term-queued-${i}`, `ok:q${i}`, 5000);
      // Queued too, but its receiver answers 503 twice first: the shutdown answer is retried.
      await send('term-retried', 'ok:r', 5000, (req, res, n) => (n <= 2 ? res.writeHead(503).end() : ok(req, res, n)));
      const sockets = socketsOf(target.pid);

      target.child.kill('SIGTERM');
      const exit = await within(target.exited, 10_000);
      expect(exit, `still running 10 s after SIGTERM\n${target.output().slice(-3000)}`).toBeDefined();
      expect(exit!.code).toBe(0);

      for (const { name, expiration } of submitted) {
        const answers = answersOf(name);
        expect(answers, `${name}: accepted answers`).toHaveLength(1);
        expect(answers[0]!.at).toBeLessThan(expiration);
        expect(answers[0]!.at, `${name}: answered before the process exited`).toBeLessThanOrEqual(exit!.at);
        for (const attempt of attemptsOf(name)) expect(attempt.at).toBeLessThan(expiration);
      }
      const comment = (name: string) => comments(answersOf(name)[0]!);
      expect(comment('term-queued-0')).toEqual(['SKIPPED:SHUTDOWN']);
      expect(comment('term-retried')).toEqual(['SKIPPED:SHUTDOWN']);
      expect(attemptsOf('term-retried').map((a) => a.status)).toEqual([503, 503, 200]);
      // The running scans were cut at their deadline (before the 30 s grace ran out).
      expect(comment('term-running-1')).toEqual(['SKIPPED:TIMEOUT']);
      console.log(
        `sigterm: ${submitted.length} bounties answered; the engine held ${sockets} sockets at SIGTERM; exited ${exit!.at - now} ms after the first submission`,
      );
    } finally {
      await target.kill();
      removeProject(dir);
    }
  });
});
