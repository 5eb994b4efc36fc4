import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin, type BinResult } from '../helpers/bin.js';
import { parseXml } from '../unit/simulator/xml.js';
import { createEngine } from '../../src/engine/engine.js';
import { eicarScan, openOwn, useEngines } from '../helpers/engines.js';
import { inLanes } from '../helpers/lanes.js';

const SECRET = 'qwertyuiop';
const tmp = mkdtempSync(join(tmpdir(), 'pse-test-cmd-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const engines = useEngines(SECRET);
const fixture = engines.fixture;
const ownEngine = engines.own;

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const test = (args: string[], options: Parameters<typeof runBin>[1] = {}) => runBin(['test', ...args], { cwd: tmp, ...options });

describe("polyswarm-engine test (built bin) against the project's own engine", () => {
  /** The two `test all` runs (text and --json), each against an engine of its own, side by side before the tests. */
  let runs: Record<'text' | 'json', Promise<{ url: string; r: BinResult }>>;
  beforeAll(() => {
    const all = (extra: string[]) => async () => {
      const engine = await openOwn(SECRET);
      const r = await test(['all', '--url', engine.url, '--secret', SECRET, '--expiration', '8s', ...extra]).finally(() => engine.close());
      return { url: engine.url, r };
    };
    runs = inLanes(2, { text: all([]), json: all(['--json']) });
  });

  it('test all: every case green, one line each with its timing, then the summary; exit 0', async () => {
    const { url, r } = await runs.text;
    expect(r.stderr).toBe(`Testing ${url} (secret from --secret)`);
    // Warnings (a slow acknowledgement on a busy machine) are not failures; every case line must be green.
    const lines = String(r.stdout)
      .split('\n')
      .filter((line) => !line.startsWith('    warning: '));
    expect(lines, String(r.stdout)).toHaveLength(29);
    for (const line of lines.slice(0, 28)) expect(line).toMatch(/^✓ .+ \(\d+(ms|\.\d+s)\)( → \w+.*)?$/);
    expect(lines[0]).toMatch(/^✓ ping \(/);
    expect(lines[28]).toBe('28 passed, 0 failed');
    expect(r.exitCode).toBe(0);
  });

  it('test ping, test analyze and test bounty --eicar/--benign/--file pass', async () => {
    const url = await ownEngine();
    const file = join(tmp, 'sample.txt');
    writeFileSync(file, 'just text\n');
    const invocations = [
      ['ping'],
      ['analyze'],
      ['bounty'],
      ['bounty', '--benign'],
      ['bounty', '--file', file, '--expect', 'benign'],
      ['bounty', '--eicar', '--phase', 'arbitration'],
    ].map(async (args) => ({
      args,
      r: await test([...args, '--url', url, '--secret', SECRET, ...(args[0] === 'bounty' ? ['--expiration', '5s'] : [])]),
    }));
    // All at once (each mostly waits for its answer and the settle time); checked in order.
    for (const { args, r } of await Promise.all(invocations)) {
      expect(r.exitCode, `${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
      expect(String(r.stdout).split('\n').at(-1)).toBe('1 passed, 0 failed');
    }
  });

  it('--json prints only JSON documents on stdout, one per line, the summary last', async () => {
    const { url, r } = await runs.json;
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    const docs = String(r.stdout)
      .split('\n')
      .map((line: string) => JSON.parse(line) as Record<string, unknown>);
    expect(docs).toHaveLength(29);
    for (const doc of docs.slice(0, 28))
      expect(doc).toMatchObject({ case: expect.any(String), ok: true, ms: expect.any(Number), messages: [], warnings: [] });
    expect(docs[1]).toMatchObject({ case: 'bounty: EICAR → malicious', answer: { verdict: 'malicious', bid: 1000000000000000000 } });
    expect(docs[28]).toEqual({ summary: { ok: true, passed: 28, failed: 0, ms: expect.any(Number), suite: 'all', url } });
  });

  it("--verbose shows the signed bytes' length and hash, the request and the answer, never the secret", async () => {
    const url = await ownEngine();
    const secret = 'a-secret-that-must-not-leak';
    const engine = createEngine({ secret, module: eicarScan, deliveryMarginMs: 500 });
    const listening = await engine.listen({ port: 0, host: '127.0.0.1' });
    engines.track(async () => {
      await listening.close();
      await engine.close({ graceMs: 100 });
    });
    const r = await test(['bounty', '--url', listening.url, '--secret', secret, '--expiration', '5s', '--verbose']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/signed bytes: \d+ bytes, sha256 [0-9a-f]{64}/);
    expect(r.stderr).toMatch(/X-POLYSWARM-SIGNATURE: [0-9a-f]{64}/);
    expect(r.stderr).toContain('X-POLYSWARM-EVENT: bounty');
    expect(r.stderr).toMatch(/← 202 in \d+ ms/);
    expect(r.stderr).toContain('"artifact_type":"file"');
    expect(r.stderr).toMatch(
      /\[bounty: EICAR\] ⇐ answer 1 posted to response_url \d+ ms after the bounty was accepted \(application\/json, \d+ bytes\)\n\[bounty: EICAR\]   \{"verdict":"malicious","bid":1000000000000000000,/,
    );
    expect(r.stderr).not.toContain(secret);
    expect(r.stdout).not.toContain(secret);
    expect(url).not.toBe(listening.url);
  });
});

describe('polyswarm-engine test (built bin) against broken engines: exit 1 with the precise message', () => {
  it('one that answers late', async () => {
    const r = await test(['bounty', '--url', await fixture({ lateMs: 500 }), '--secret', SECRET, '--expiration', '2s']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(
      /^✗ bounty: EICAR \(\d\.\ds\) → malicious, bid 1 NCT \(1000000000000000000 wei\), family EICAR-Test-File\n {4}the answer arrived \d+ ms after the bounty's expiration; late answers may not count/,
    );
    expect(String(r.stdout).split('\n').at(-1)).toBe('0 passed, 1 failed');
  });

  it('one that posts a float bid', async () => {
    const r = await test(['bounty', '--url', await fixture({ floatBid: true }), '--secret', SECRET, '--expiration', '3s']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(
      '    assertion /bid: must be a JSON integer written as digits, got 1000000000000000000.0 (PolySwarm rejects a float bid with 400)\n',
    );
  });

  it('one that posts twice', async () => {
    const r = await test(['bounty', '--url', await fixture({ twice: true }), '--secret', SECRET, '--expiration', '3s']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/\n {4}expected exactly one answer, got 2 \(the second \d+ ms after the first\)\n/);
  });

  it('one that never answers', async () => {
    const r = await test(['bounty', '--url', await fixture({ silent: true }), '--secret', SECRET, '--expiration', '1s']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain("    no answer arrived at response_url before the bounty's expiration");
  });

  it('one that skips the signature check (with a JUnit report)', async () => {
    const junit = join(tmp, 'no-signature.xml');
    const r = await test([
      'all',
      '--url',
      await fixture({ noSignatureCheck: true }),
      '--secret',
      SECRET,
      '--expiration',
      '4s',
      '--junit',
      junit,
    ]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('✗ security: missing signature → 400');
    expect(r.stdout).toContain(
      '    the engine accepted a bounty without X-POLYSWARM-SIGNATURE (answered 202); it must verify X-POLYSWARM-SIGNATURE on the raw body and answer 400\n',
    );
    expect(r.stdout).toContain('    the engine accepted a body changed after it was signed (answered 202)');
    expect(String(r.stdout).split('\n').at(-1), String(r.stdout)).toBe('20 passed, 8 failed');
    const suite = parseXml(readFileSync(junit, 'utf8')).children[0];
    expect(suite.attributes).toMatchObject({ tests: '28', failures: '8' });
    const failed = suite.children.filter((c) => c.children.some((f) => f.name === 'failure'));
    expect(failed.map((c) => c.attributes.name)).toEqual([
      'security: missing signature → 400',
      'security: wrong secret → 401',
      'security: tampered body → 401',
      'security: uppercase-hex nonsense signature → 401',
      'security: sha256=-prefixed nonsense signature → 401',
      'security: non-ASCII signature header → 4xx, still serving',
      'security: 8 KiB signature header → 4xx, still serving',
      'security: two signature headers → 4xx, still serving',
    ]);
  });

  it('one that answers 500 on analyze', async () => {
    const r = await test(['analyze', '--url', await fixture({ analyze500: true }), '--secret', SECRET]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('✗ unsupported event (analyze) → 4xx, still serving');
    expect(r.stdout).toContain('    expected a 4xx answer to the unsupported event "analyze", got 500: {"error":"internal error"}');
  });

  it('a wrong secret: the 401 is explained (length, digest, usual causes), once, and test all stops after the ping', async () => {
    const all = await test(['all', '--url', await fixture(), '--secret', 'other-secret', '--expiration', '2s']);
    expect(all.exitCode).toBe(1);
    expect(String(all.stdout).match(/Usual causes/g)).toHaveLength(1);
    // Every other case would fail the same way: they are not run.
    expect(all.stdout).toMatch(/^✗ ping \(/);
    expect(all.stdout).toMatch(/\n0 passed, 1 failed, 27 not run$/);
    const r = await test(['ping', '--url', await fixture(), '--secret', 'other-secret']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('the engine answered 401 to a correctly signed request');
    expect(r.stdout).toContain('Sent 0 bytes (sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855)');
    expect(r.stdout).toContain('different secret');
    expect(r.stdout).not.toContain('other-secret');
  });
});

describe('an engine that refuses a bounty before its 202 (its egress policy forbids the response_url)', () => {
  it('test bounty fails at once, printing the refusal in full with the flag that lifts it', async () => {
    // What `start` (--egress public) answers for a loopback response_url: the reason and the flag, in JSON.
    const refusal = {
      error:
        'response_url http://127.0.0.1/answers/x is a loopback address, which --egress public refuses: this bounty could never be answered',
      hint: 'run the engine with --egress any, or allow the address with --egress-allow 127.0.0.1',
    };
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const ping = req.headers['x-polyswarm-event'] === 'ping';
        res.writeHead(ping ? 200 : 422, { 'content-type': 'application/json' });
        res.end(ping ? '{"status":"OK"}' : JSON.stringify(refusal));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    engines.track(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const started = Date.now();
    const r = await test(['bounty', '--eicar', '--url', url, '--secret', SECRET]);
    const ms = Date.now() - started;
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`    expected 202 Accepted for the bounty, got 422: ${JSON.stringify(refusal)}`);
    expect(r.stdout).toContain('--egress any');
    // Not after the bounty's expiration (30 s): a generous bound for a process start on a busy machine.
    expect(ms).toBeLessThan(5000);
    expect(r.stdout).toMatch(/^✗ bounty: EICAR \(\d+ms\)$/m);
  });
});

describe('polyswarm-engine test all pointed at something that is not an engine', () => {
  it('an HTTP server answering 404 with an HTML page: stops after the ping, saying what answered (status, type, first bytes)', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>Not Found</title><h1>Not Found</h1>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    engines.track(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const started = Date.now();
    const r = await test(['all', '--url', url, '--secret', SECRET]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout.split('\n')).toEqual([
      expect.stringMatching(/^✗ ping \(\d+ms\)$/),
      '    expected a 2xx answer to a signed ping, got 404 (text/html; charset=utf-8): <!doctype html><title>Not Found</title><h1>Not Found</h1>',
      `Stopped after the ping: what answers at ${url} is not an engine that accepts these signed events (see above); the other 27 cases were not run.`,
      '0 passed, 1 failed, 27 not run',
    ]);
    // Not after the suite's bounty waits (seconds each): a generous bound for a busy machine.
    expect(Date.now() - started).toBeLessThan(10_000);
    const json = await test(['all', '--url', url, '--secret', SECRET, '--json']);
    expect(JSON.parse(json.stdout.split('\n')[1])).toMatchObject({ summary: { ok: false, passed: 0, failed: 1, notRun: 27 } });
  });
});

describe('polyswarm-engine test (built bin): unreachable engines, usage errors, zero setup', () => {
  it('an explicit --url that nothing answers exits 3 with the URL and a hint', async () => {
    const port = await deadPort();
    const r = await test(['all', '--url', `http://127.0.0.1:${port}/`, '--secret', SECRET]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(`Error: cannot reach the engine at http://127.0.0.1:${port}/: connection refused`);
    expect(r.stderr).toContain('Hint: Is it running? Start it with `polyswarm-engine serve`');
    expect(r.stdout).toBe('');
  });

  it('usage errors exit 2 before anything is sent', async () => {
    const url = await fixture();
    const cases: [string[], string][] = [
      [['bounty', '--eicar', '--benign'], 'Error: choose one artifact, not --eicar and --benign'],
      [['bounty', '--set', 'rules'], 'Error: --set "rules": expected path=value'],
      [['bounty', '--set', 'rules.max_allowed_bid=1e+21'], '/rules/max_allowed_bid: must be a non-negative integer (wei), got 1e+21'],
      [['bounty', '--file', join(tmp, 'missing.bin')], `Error: --file ${join(tmp, 'missing.bin')}: no such file`],
      [['ping', '--timeout', 'soon'], "error: option '--timeout <duration>' argument 'soon' is invalid. --timeout is not a duration"],
      [['bounty', '--scan-url', 'not a url'], 'Error: --scan-url "not a url": expected an http(s) URL'],
      // The old names, hidden from --help, still work and are named as given.
      [['bounty', '--url-artifact', 'not a url'], 'Error: --url-artifact "not a url": expected an http(s) URL'],
      [
        ['bounty', '--remote-file', 'http://127.0.0.1:9/a', '--artifact-url', 'http://127.0.0.1:9/b'],
        'Error: choose one artifact, not --remote-file and --artifact-url',
      ],
      [['ping', '--cwd', join(tmp, 'nowhere')], `Error: --cwd ${join(tmp, 'nowhere')}: no such folder`],
      [
        ['ping', '--url', 'localhost:3000'],
        'Error: --url "localhost:3000" is not an http(s) URL\nHint: For example: --url http://127.0.0.1:3000/',
      ],
    ];
    for (const [args, message] of cases) {
      const r = await test([...args, ...(args.includes('--url') ? [] : ['--url', url]), '--secret', SECRET]);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
    const noSecret = await test(['ping', '--url', url]);
    expect(noSecret.exitCode).toBe(2);
    expect(noSecret.stderr).toContain('Error: no webhook secret to sign the events with');
  });

  it('--allow-invalid sends an invalid bounty and passes when the engine rejects it', async () => {
    const r = await test(['bounty', '--url', await fixture(), '--secret', SECRET, '--set', 'expiration=yesterday', '--allow-invalid']);
    expect(r.stdout).toContain('✓ bounty: EICAR');
    expect(r.exitCode).toBe(0);
  });

  it('--payload - sends the given bounty, with response_url pointed at the receiver', async () => {
    const url = await fixture();
    const payload = JSON.stringify({
      id: 'payload-1',
      artifact_type: 'FILE',
      artifact_uri: url, // the engine's own liveness JSON: a harmless file
      expiration: new Date(Date.now() + 3000).toISOString(),
      response_url: 'https://example.invalid/never-used',
      rules: { min_allowed_bid: 1, max_allowed_bid: 2 },
    });
    const r = await test(['bounty', '--url', url, '--secret', SECRET, '--payload', '-', '--expect', 'benign'], { input: payload });
    expect(r.stdout).toMatch(/^✓ bounty: payload/);
    expect(r.exitCode).toBe(0);
  });

  it('the secret comes from WEBHOOK_SECRET, else from .env in --cwd', async () => {
    const url = await fixture();
    expect((await test(['ping', '--url', url], { env: { WEBHOOK_SECRET: SECRET } })).exitCode).toBe(0);
    const dir = join(tmp, 'with-env');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '.env'), `WEBHOOK_SECRET=${SECRET}\n`);
    const r = await test(['ping', '--url', url, '--cwd', dir]);
    expect(r.stderr).toBe(`Testing ${url} (secret from WEBHOOK_SECRET in ${join(dir, '.env')})`);
    expect(r.exitCode).toBe(0);
  });

  it('inside an engine project, without --url, it uses the URL a running serve recorded', async () => {
    const url = await fixture();
    const project = join(tmp, 'project');
    mkdirSync(join(project, 'src'), { recursive: true });
    mkdirSync(join(project, '.polyswarm'), { recursive: true });
    writeFileSync(join(project, 'src', 'scan.mjs'), "export const scan = () => ({ verdict: 'unknown' });\n");
    writeFileSync(join(project, '.env'), `WEBHOOK_SECRET=${SECRET}\n`);
    // This test process stands in for the serve process: alive, and its recorded URL answers GET /.
    writeFileSync(
      join(project, '.polyswarm', 'serve.json'),
      JSON.stringify({ url, pid: process.pid, startedAt: new Date().toISOString() }),
    );
    const r = await test(['ping', '--cwd', project]);
    expect(r.stderr).toBe(
      `Testing ${url} (the running \`serve\` of ${project}, pid ${process.pid}) (secret from WEBHOOK_SECRET in ${join(project, '.env')})`,
    );
    expect(r.stdout).toBe('✓ ping (' + String(r.stdout).slice(8));
    expect(r.exitCode).toBe(0);
  });
});

describe('polyswarm-engine test (built bin): --listen-host, --advertise-host, --callback-port', () => {
  it('--listen-host 127.0.0.2 --advertise-host 127.0.0.2: the engine fetches from and posts to 127.0.0.2, the case passes', async () => {
    const url = await fixture();
    const r = await test([
      'bounty',
      '--eicar',
      '--url',
      url,
      '--secret',
      SECRET,
      '--expiration',
      '3s',
      '--listen-host',
      '127.0.0.2',
      '--advertise-host',
      '127.0.0.2',
      '--verbose',
    ]);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    const stderr = String(r.stderr);
    // The header names the callback base, since it is not the default.
    const header = /^Testing (\S+) \(secret from --secret\), callbacks at (http:\/\/127\.0\.0\.2:\d+)$/m.exec(stderr);
    expect(header, stderr).not.toBeNull();
    const [, testedUrl, base] = header!;
    expect(testedUrl).toBe(url);
    expect(stderr).toContain(`"artifact_uri":"${base}/artifacts/`);
    expect(stderr).toContain(`"response_url":"${base}/answers/`);
    expect(stderr).toContain(`[bounty: EICAR] ⇐ artifact downloaded 1 time from ${base}/artifacts/`);
    expect(stderr).toMatch(
      /\[bounty: EICAR\] ⇐ answer 1 posted to response_url \d+ ms after the bounty was accepted \(application\/json, \d+ bytes\)\n\[bounty: EICAR\]   \{"verdict":"malicious"/,
    );
    expect(String(r.stdout)).toMatch(/^✓ bounty: EICAR \(/);
    expect(String(r.stdout).split('\n').at(-1)).toBe('1 passed, 0 failed');
  });

  it('--listen-host ::1 --json: the advertised URLs are bracketed, the answer is the EICAR verdict', async () => {
    // ::1 is available here (checked with `node -e` listening on it); the run would otherwise exit 2.
    const url = await fixture();
    const r = await test(['bounty', '--eicar', '--url', url, '--secret', SECRET, '--expiration', '3s', '--listen-host', '::1', '--json']);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr).toBe('');
    const [caseDoc, summary] = String(r.stdout)
      .split('\n')
      .map((line: string) => JSON.parse(line) as Record<string, unknown>);
    expect(caseDoc).toMatchObject({ case: 'bounty: EICAR', ok: true, messages: [], answer: { verdict: 'malicious' } });
    expect(summary).toEqual({
      summary: {
        ok: true,
        passed: 1,
        failed: 0,
        ms: expect.any(Number),
        suite: 'bounty',
        url,
        callback: expect.stringMatching(/^http:\/\/\[::1\]:\d+$/),
      },
    });
  });

  it('--callback-port binds the given port; the header says where it listens when that differs from the advertised host', async () => {
    const port = await deadPort();
    const r = await test([
      'ping',
      '--url',
      await fixture(),
      '--secret',
      SECRET,
      '--listen-host',
      '[::1]',
      '--advertise-host',
      'localhost',
      '--callback-port',
      String(port),
    ]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toMatch(
      new RegExp(`^Testing \\S+ \\(secret from --secret\\), callbacks at http://localhost:${port} \\(listening on \\[::1\\]:${port}\\)$`),
    );
  });

  it('an advertised address the engine cannot reach: exit 1, the message says what was advertised and where it listened', async () => {
    const r = await test([
      'bounty',
      '--url',
      await fixture(),
      '--secret',
      SECRET,
      '--expiration',
      '1s',
      '--listen-host',
      '127.0.0.2',
      '--advertise-host',
      '127.0.0.3',
    ]);
    expect(r.exitCode).toBe(1);
    expect(String(r.stdout)).toMatch(
      /\n {4}the engine never downloaded the artifact from http:\/\/127\.0\.0\.3:(\d+)\/artifacts\/[-0-9a-f]+: the simulator listens on 127\.0\.0\.2:\1 and told the engine to use http:\/\/127\.0\.0\.3:\1; check that the engine \(or its worker\) can reach that address \(--advertise-host\)/,
    );
  });

  it('bad callback options are usage errors (exit 2), nothing is tested', async () => {
    const url = await fixture();
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    engines.track(() => new Promise<void>((resolve) => busy.close(() => resolve())));
    const taken = (busy.address() as AddressInfo).port;
    const cases: [string[], string][] = [
      [
        ['ping', '--callback-port', '70000'],
        "error: option '--callback-port <port>' argument '70000' is invalid. --callback-port must be between 0 and 65535.",
      ],
      [
        ['bounty', '--callback-port', 'abc'],
        "error: option '--callback-port <port>' argument 'abc' is invalid. --callback-port must be a whole number.",
      ],
      [
        ['all', '--callback-port', '-1'],
        "error: option '--callback-port <port>' argument '-1' is invalid. --callback-port must be a whole number.",
      ],
      [
        ['ping', '--callback-port', String(taken)],
        `Error: --callback-port ${taken}: already in use on 127.0.0.1\nHint: Pick another port, or 0 for a free one.`,
      ],
      [
        ['ping', '--advertise-host', 'host.docker.internal:8080'],
        'Error: --advertise-host "host.docker.internal:8080": a host only, without a port\nHint: Set the port with --callback-port.',
      ],
      [
        ['analyze', '--listen-host', '0.0.0.0', '--advertise-host', '0.0.0.0'],
        'Error: --advertise-host "0.0.0.0": that means "every interface", which nothing can connect to',
      ],
      [['ping', '--listen-host', 'not a host'], 'Error: --listen-host "not a host": expected an interface address or host name'],
    ];
    for (const [args, message] of cases) {
      const r = await test([...args, '--url', url, '--secret', SECRET]);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(message);
      expect(r.stdout, args.join(' ')).toBe('');
    }
  });
});
