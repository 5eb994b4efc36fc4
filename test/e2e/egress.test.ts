import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sign } from '../../src/protocol/signature.js';
import { runBin } from '../helpers/bin.js';
import { until as poll } from '../helpers/poll.js';
import { startRedis } from '../helpers/redis.js';
import { makeProject, postSignedBounty, READY, SECRET, spawnBin, useCleanup, type Child } from './serve-helpers.js';

const { cleanup, track } = useCleanup();

const PRELOAD = fileURLToPath(new URL('../fixtures/preload/hosts.mjs', import.meta.url));
const HOSTS = 'rebind.example.com=127.0.0.1,allowed.example.com=127.0.0.1';

const SCAN = "export const scan = async (bounty) => { await bounty.fetchArtifact(); return { verdict: 'benign' }; };\n";

interface Recorder {
  server: Server;
  port: number;
  hits: { method: string; url: string }[];
  answers: Map<string, Record<string, unknown>>;
}

/** A loopback HTTP server that records every request; `route` answers the ones it knows. */
async function recorder(
  route: (req: IncomingMessage, body: Buffer, self: Recorder) => { status: number; headers?: Record<string, string>; body?: string } | null,
): Promise<Recorder> {
  const self: Recorder = { server: undefined as unknown as Server, port: 0, hits: [], answers: new Map() };
  self.server = createServer((req, res) => {
    self.hits.push({ method: req.method ?? '', url: req.url ?? '' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'POST' && req.url?.startsWith('/answer/')) self.answers.set(req.url.slice(8), JSON.parse(body.toString('utf8')));
      const reply = route(req, body, self) ?? { status: 200, body: req.method === 'GET' ? 'canary bytes\n' : '{}' };
      res.writeHead(reply.status, reply.headers).end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => self.server.listen(0, '127.0.0.1', resolve));
  self.port = (self.server.address() as AddressInfo).port;
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        self.server.closeAllConnections();
        self.server.close(() => resolve());
      }),
  );
  return self;
}

/** The canary plus an "allowed" host (allowed.example.com) that serves an artifact, redirects, and receives answers. */
async function hosts() {
  const canary = await recorder(() => null);
  const allowed = await recorder((req) => {
    const url = req.url ?? '';
    if (url.startsWith('/redirect-artifact')) return { status: 302, headers: { location: `http://127.0.0.1:${canary.port}/artifact` } };
    if (url.startsWith('/answer-307/'))
      return { status: 307, headers: { location: `http://127.0.0.1:${canary.port}/answer/${url.slice(12)}` } };
    return null;
  });
  const A = `http://allowed.example.com:${allowed.port}`;
  const C = canary.port;
  // Every spelling of the canary's address that must be refused under `public`.
  const spellings = {
    ipv4: `http://127.0.0.1:${C}`,
    localhost: `http://localhost:${C}`,
    mapped: `http://[::ffff:127.0.0.1]:${C}`,
    decimal: `http://2130706433:${C}`,
    rebind: `http://rebind.example.com:${C}`,
  };
  return { canary, allowed, A, spellings };
}

async function sendBounty(engineUrl: string, id: string, artifactUri: string, responseUrl: string): Promise<number> {
  return postSignedBounty(engineUrl, bountyJson(id, artifactUri, responseUrl));
}

function bountyJson(id: string, artifactUri: string, responseUrl: string): string {
  return JSON.stringify({
    id,
    artifact_type: 'file',
    artifact_uri: artifactUri,
    expiration: new Date(Date.now() + 8000).toISOString(),
    response_url: responseUrl,
    rules: { min_allowed_bid: 62500000000000000, max_allowed_bid: 1000000000000000000 },
  });
}

async function signedReply(engineUrl: string, body: string): Promise<{ status: number; body: string }> {
  const res = await fetch(engineUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-polyswarm-event': 'bounty', 'x-polyswarm-signature': sign(SECRET, body) },
    body,
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, body: await res.text() };
}

/** The suite's polling helper, with this file's 10 s default. */
const until = (done: () => boolean, what: string, timeoutMs = 10_000) => poll(done, what, timeoutMs);

async function startEngine(args: string[], env: Record<string, string> = {}): Promise<{ child: Child; url: string }> {
  const project = makeProject({ 'src/scan.mjs': SCAN });
  cleanup.push(project.remove);
  const child = track(
    spawnBin(['start', '--port', '0', '--cwd', project.dir, ...args], {
      NODE_OPTIONS: `--import=${PRELOAD}`,
      PSE_TEST_HOSTS: HOSTS,
      ...env,
    }),
  );
  const [, url] = await child.waitFor(READY);
  return { child, url: url! };
}

describe('egress policy (start, built bin)', () => {
  it('--egress public: the canary receives nothing, whatever the spelling, name or redirect; refusals are answered SKIPPED:EGRESS-REFUSED', async () => {
    const { canary, allowed, A, spellings } = await hosts();
    const { child, url } = await startEngine(['--egress', 'public', '--egress-allow', 'allowed.example.com']);

    // Artifact URLs that reach the canary, answers to the allowed receiver.
    const artifactCases: Record<string, string> = {
      ...Object.fromEntries(Object.entries(spellings).map(([k, v]) => [k, `${v}/artifact`])),
      redirect: `${A}/redirect-artifact`,
    };
    for (const [name, uri] of Object.entries(artifactCases))
      expect(await sendBounty(url, `art-${name}`, uri, `${A}/answer/art-${name}`)).toBe(202);
    // Answer URLs that reach the canary, artifacts from the allowed host.
    const answerCases: Record<string, string> = {
      ...Object.fromEntries(Object.entries(spellings).map(([k, v]) => [k, `${v}/answer/ans-${k}`])),
      redirect307: `${A}/answer-307/ans-redirect307`,
    };
    // A response_url the policy refuses outright (an address literal, localhost) can never be answered: refused at
    // once with 422, the reason and how to allow it. A name is only refused when the post resolves it.
    const literal = ['ipv4', 'localhost', 'mapped', 'decimal'];
    for (const [name, uri] of Object.entries(answerCases)) {
      const reply = await signedReply(url, bountyJson(`ans-${name}`, `${A}/artifact`, uri));
      if (!literal.includes(name)) {
        expect(reply.status, name).toBe(202);
        continue;
      }
      expect(reply.status, name).toBe(422);
      const { error, hint } = JSON.parse(reply.body) as { error: string; hint: string };
      expect(error, name).toMatch(/can never be answered: the egress policy \(public\) refused .*not a public address/);
      expect(hint, name).toContain('--egress-allow');
    }
    const posted = Object.keys(answerCases).filter((n) => !literal.includes(n));

    await until(() => Object.keys(artifactCases).every((n) => allowed.answers.has(`art-${n}`)), 'the artifact-case answers');
    for (const name of Object.keys(artifactCases)) {
      expect(allowed.answers.get(`art-${name}`), name).toMatchObject({
        verdict: 'unknown',
        bid: 0,
        metadata: { comments: ['SKIPPED:EGRESS-REFUSED'] },
      });
    }
    await until(
      () => posted.every((n) => child.lines.some((l) => l.includes('answer not delivered') && l.includes(`ans-${n}`))),
      'the answer-case refusals',
    );
    const refusals = child.lines.filter((l) => l.includes('answer not delivered'));
    for (const name of Object.keys(spellings).filter((n) => !literal.includes(n))) {
      expect(
        refusals.find((l) => l.includes(`bounty=ans-${name} `)),
        name,
      ).toMatch(/egress policy \(public\) refused/);
    }
    expect(refusals.find((l) => l.includes('ans-redirect307'))).toMatch(
      /HTTP 307 redirect to http:\/\/127\.0\.0\.1:\d+\/answer\/ans-redirect307 not followed/,
    );
    expect(canary.hits).toEqual([]);
  });

  it('--egress any: the same flows reach the canary (a cross-origin answer redirect is still not followed)', async () => {
    const { canary, allowed, A, spellings } = await hosts();
    const { child, url } = await startEngine(['--egress', 'any']);
    for (const [name, base] of Object.entries(spellings)) {
      expect(await sendBounty(url, `art-${name}`, `${base}/artifact`, `${A}/answer/art-${name}`)).toBe(202);
      expect(await sendBounty(url, `ans-${name}`, `${A}/artifact`, `${base}/answer/ans-${name}`)).toBe(202);
    }
    expect(await sendBounty(url, 'art-redirect', `${A}/redirect-artifact`, `${A}/answer/art-redirect`)).toBe(202);
    expect(await sendBounty(url, 'ans-redirect307', `${A}/artifact`, `${A}/answer-307/ans-redirect307`)).toBe(202);

    await until(() => [...Object.keys(spellings), 'redirect'].every((n) => allowed.answers.has(`art-${n}`)), 'the artifact-case answers');
    for (const name of [...Object.keys(spellings), 'redirect'])
      expect(allowed.answers.get(`art-${name}`), name).toMatchObject({ verdict: 'benign' });
    await until(() => Object.keys(spellings).every((n) => canary.answers.has(`ans-${n}`)), 'the answers at the canary');
    // Five artifact downloads plus the redirected one, and five answers, all reached the canary.
    expect(canary.hits.filter((h) => h.method === 'GET' && h.url === '/artifact')).toHaveLength(6);
    await until(() => child.lines.some((l) => l.includes('answer not delivered') && l.includes('ans-redirect307')), 'the redirect refusal');
    expect(canary.answers.has('ans-redirect307')).toBe(false);
  });

  it('HTTP_PROXY: the artifact request and the answer go through the proxy', async () => {
    const { canary, allowed, A } = await hosts();
    // A CONNECT proxy (undici tunnels http:// too) that records the targets it is asked for.
    const tunnels: string[] = [];
    const proxy = createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host === 'allowed.example.com' ? '127.0.0.1' : host!, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          proxy.closeAllConnections();
          proxy.close(() => resolve());
        }),
    );
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

    const { url } = await startEngine(['--egress', 'any'], { HTTP_PROXY: proxyUrl });
    expect(await sendBounty(url, 'proxied', `http://127.0.0.1:${canary.port}/artifact`, `${A}/answer/proxied`)).toBe(202);
    await until(() => allowed.answers.has('proxied'), 'the proxied answer');
    expect(allowed.answers.get('proxied')).toMatchObject({ verdict: 'benign' });
    expect(tunnels).toContain(`127.0.0.1:${canary.port}`);
    expect(tunnels).toContain(`allowed.example.com:${allowed.port}`);
  });

  it('HTTP_PROXY under --egress public: a loopback target is refused before anything is sent to the proxy', async () => {
    const { canary, allowed, A } = await hosts();
    const tunnels: string[] = [];
    const proxy = createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req: IncomingMessage, client: Socket) => {
      tunnels.push(req.url ?? '');
      client.destroy();
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          proxy.closeAllConnections();
          proxy.close(() => resolve());
        }),
    );
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    // The answer receiver is exempt (and not proxied), the artifact host is not.
    const { url } = await startEngine(['--egress', 'public', '--egress-allow', 'allowed.example.com'], {
      HTTP_PROXY: proxyUrl,
      NO_PROXY: 'allowed.example.com',
    });
    expect(await sendBounty(url, 'p-refused', `http://rebind.example.com:${canary.port}/artifact`, `${A}/answer/p-refused`)).toBe(202);
    await until(() => allowed.answers.has('p-refused'), 'the answer');
    expect(allowed.answers.get('p-refused')).toMatchObject({ verdict: 'unknown', metadata: { comments: ['SKIPPED:EGRESS-REFUSED'] } });
    expect(tunnels).toEqual([]);
    expect(canary.hits).toEqual([]);
  });

  it('worker defaults to public: with start --queue, the canary receives nothing from the worker that scans', async () => {
    const redis = await startRedis();
    cleanup.push(() => redis.close());
    const { canary, allowed, A, spellings } = await hosts();
    const project = makeProject({ 'src/scan.mjs': SCAN });
    cleanup.push(project.remove);
    // No --egress anywhere: the web process only enqueues; the worker's default is what is under test.
    const env = {
      NODE_OPTIONS: `--import=${PRELOAD}`,
      PSE_TEST_HOSTS: HOSTS,
      POLYSWARM_EGRESS: '',
      POLYSWARM_EGRESS_ALLOW: 'allowed.example.com',
    };
    const web = track(spawnBin(['start', '--queue', redis.url, '--port', '0', '--cwd', project.dir], env));
    const [, url] = await web.waitFor(READY);
    const worker = track(spawnBin(['worker', '--queue', redis.url, '--concurrency', '2', '--cwd', project.dir], env));
    await worker.waitFor(/\bready\b.*egress=public/);
    expect(await sendBounty(url!, 'w-refused', `${spellings.ipv4}/artifact`, `${A}/answer/w-refused`)).toBe(202);
    // A web process whose workers post does not judge response_urls by its own policy: the worker's refuses it.
    expect(await sendBounty(url!, 'w-answer', `${A}/artifact`, `${spellings.localhost}/answer/w-answer`)).toBe(202);
    await until(() => allowed.answers.has('w-refused'), 'the worker’s answer');
    expect(allowed.answers.get('w-refused')).toMatchObject({ verdict: 'unknown', metadata: { comments: ['SKIPPED:EGRESS-REFUSED'] } });
    await until(() => worker.lines.some((l) => l.includes('answer not delivered') && l.includes('bounty=w-answer ')), 'the refused answer');
    expect(canary.hits).toEqual([]);
  });

  it('test bounty against start on loopback fails fast, saying why and naming --egress (no wait for the expiration)', async () => {
    const { url } = await startEngine([], { POLYSWARM_EGRESS: '', POLYSWARM_EGRESS_ALLOW: '' });
    const began = Date.now();
    const result = await runBin(['test', 'bounty', '--eicar', '--url', url, '--secret', SECRET]);
    const tookMs = Date.now() - began;
    expect(result.exitCode).toBe(1);
    const output = result.stdout + result.stderr;
    expect(output).toMatch(/422/);
    expect(output).toMatch(/can never be answered: the egress policy \(public\) refused 127\.0\.0\.1/);
    expect(output).toContain('--egress');
    // The engine refused within milliseconds; the command, a process start included, well within the bounty's 30 s.
    expect(tookMs).toBeLessThan(10_000);
    console.log(`test bounty against start (egress public): exit 1 in ${tookMs} ms`);
  });

  it('a bad --egress or --egress-allow is a usage error naming the value', async () => {
    const project = makeProject({ 'src/scan.mjs': SCAN });
    cleanup.push(project.remove);
    const bad = track(spawnBin(['start', '--port', '0', '--cwd', project.dir, '--egress', 'everything']));
    expect(await bad.exited()).toBe(2);
    expect(bad.output()).toMatch(/--egress <policy>' argument 'everything' is invalid\. Allowed choices are public, any/);
    const badAllow = track(spawnBin(['start', '--port', '0', '--cwd', project.dir], { POLYSWARM_EGRESS_ALLOW: '10.0.0.0/33' }));
    expect(await badAllow.exited()).toBe(2);
    expect(badAllow.output()).toMatch(
      /POLYSWARM_EGRESS_ALLOW \(for --egress-allow\): "10\.0\.0\.0\/33" has entry "10\.0\.0\.0\/33" whose prefix length is not 0–32/,
    );
  });
});
