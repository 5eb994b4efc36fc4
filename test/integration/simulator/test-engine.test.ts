import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { testEngine, type CaseResult, type TestReport } from '../../../src/simulator/run.js';
import { UnreachableError, UsageError } from '../../../src/util/errors.js';
import { openFixture, openOwn, useEngines, type Running } from '../../helpers/engines.js';
import { inLanes } from '../../helpers/lanes.js';

const SECRET = 'qwertyuiop';
/** Short expirations keep the whole file to seconds (each bounty case waits at most expiration + 2 s grace); 4 s leaves
 * room for the suite's 1 MiB body and twenty concurrent bounties on a busy machine. */
const EXPIRATION_MS = 4000;

const engines = useEngines(SECRET);
const fixture = engines.fixture;
const ownEngine = engines.own;

const failing = (report: TestReport): CaseResult[] => report.cases.filter((c) => !c.ok);
const names = (cases: CaseResult[]) => cases.map((c) => c.name);
const BOUNTY_CASES = [
  'bounty: EICAR → malicious',
  'bounty: benign file → benign',
  'bounty: URL artifact → valid answer',
  'bounty: arbitration → Vote',
  'bounty: extra unknown fields are ignored',
  'bounty: v0 field names (guid, artifact_url)',
  'bounty: bid rules beyond 2^64',
  'repeated delivery id → one answer',
];
const FAULT_CASES = [
  'artifact host answers 404 → one unknown answer, bid 0',
  'artifact host answers 500 → one unknown answer, bid 0',
  'artifact host resets the connection → one unknown answer, bid 0',
  'artifact host never answers → one unknown answer, bid 0',
];

/**
 * One `test all` run per engine, shared by the tests that read it, started before the first test and run two at a
 * time behind the other tests (all five at once in this one process, engines and simulator alike, make a busy 2-core
 * machine answer late). Each engine is closed when its run ends. Their bounties expire in 6 s, not 4: two runs share
 * this process's event loop, and on a loaded machine one run's bursts (twenty bounties at once, a 1 MiB body) delay
 * the other's acknowledgements by seconds.
 */
const SUITE_EXPIRATION_MS = 6000;
type SuiteRun = { report: TestReport; seen: string[] };
const suiteRun = (open: () => Promise<Running>, expirationMs: number) => async (): Promise<SuiteRun> => {
  const engine = await open();
  try {
    const seen: string[] = [];
    const report = await testEngine({ url: engine.url, secret: SECRET, suite: 'all', expirationMs, onCase: (c) => seen.push(c.name) });
    return { report, seen };
  } finally {
    await engine.close();
  }
};
let suites: Record<'own' | 'correct' | 'late' | 'noSignatureCheck' | 'reference', Promise<SuiteRun>>;

beforeAll(async () => {
  // One bounty first, alone: the first run in a process pays for compiling the schemas and loading the engine, a
  // pause that would land in the middle of a run in the other lane.
  const warm = await openOwn(SECRET);
  await testEngine({ url: warm.url, secret: SECRET, bounty: { expirationMs: EXPIRATION_MS } }).finally(() => warm.close());
  suites = inLanes(2, {
    own: suiteRun(() => openOwn(SECRET), SUITE_EXPIRATION_MS),
    correct: suiteRun(() => openFixture(SECRET), SUITE_EXPIRATION_MS),
    late: suiteRun(() => openFixture(SECRET, { lateMs: 500 }), SUITE_EXPIRATION_MS),
    noSignatureCheck: suiteRun(() => openFixture(SECRET, { noSignatureCheck: true }), SUITE_EXPIRATION_MS),
    reference: suiteRun(() => openFixture(SECRET, { reference: true }), SUITE_EXPIRATION_MS),
  });
});

describe("testEngine against the project's own engine (createEngine)", () => {
  it('passes the whole conformance suite', async () => {
    const { report, seen } = await suites.own;
    expect(
      failing(report),
      JSON.stringify(failing(report), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2),
    ).toEqual([]);
    expect(report).toMatchObject({ ok: true, passed: 28, failed: 0 });
    expect(seen).toEqual(names(report.cases));
    const eicar = report.cases.find((c) => c.name === 'bounty: EICAR → malicious')!;
    expect(eicar.answer).toMatchObject({
      verdict: 'malicious',
      bid: 1000000000000000000n,
      metadata: { malware_family: 'EICAR-Test-File' },
    });
    const big = report.cases.find((c) => c.name === 'bounty: bid rules beyond 2^64')!;
    expect((big.answer as { bid: bigint }).bid).toBe(1n << 70n);
  });

  it("runs a single bounty, as an engine project's own test suite would", async () => {
    const url = await ownEngine();
    const report = await testEngine({ url, secret: SECRET, bounty: { artifact: 'benign', expirationMs: EXPIRATION_MS } });
    expect(report).toMatchObject({
      ok: true,
      passed: 1,
      failed: 0,
      cases: [{ name: 'bounty: benign file', ok: true, answer: { verdict: 'benign' } }],
    });
    const wrong = await testEngine({
      url,
      secret: SECRET,
      bounty: { artifact: { bytes: Buffer.from('hello') }, expect: 'malicious', expirationMs: EXPIRATION_MS },
    });
    expect(wrong.cases[0].messages).toEqual(['expected verdict malicious, got benign']);
  });
});

describe('testEngine against the fixture engines', () => {
  it('the correct fixture passes everything', async () => {
    const { report } = await suites.correct;
    expect(failing(report)).toEqual([]);
    expect(report.passed).toBe(28);
  });

  it('an engine that answers late fails every answered bounty case with the delay', async () => {
    const { report } = await suites.late;
    const answeredCases = [...BOUNTY_CASES, ...FAULT_CASES, 'artifact bytes do not match sha256 → unknown (warning otherwise)'];
    // (The 2121 bounty passes: its late timer overflows and fires at once.)
    expect(names(failing(report))).toEqual([
      ...answeredCases,
      'bounty: 20 at once → each answered exactly once',
      'bounty: body at the size limit → accepted; over it → 413',
    ]);
    for (const c of failing(report).slice(0, answeredCases.length))
      expect(c.messages).toEqual([
        expect.stringMatching(/^the answer arrived \d+ ms after the bounty's expiration; late answers may not count/),
      ]);
    const [concurrent, size] = failing(report).slice(answeredCases.length);
    expect(concurrent.messages[0]).toMatch(/^20 of 20 bounties sent at once were not answered exactly once and correctly/);
    expect(concurrent.messages[1]).toMatch(/^bounty 1 \(EICAR\): the answer arrived \d+ ms after the bounty's expiration/);
    expect(size.messages).toEqual([
      expect.stringMatching(/^the 1047552-byte bounty: the answer arrived \d+ ms after the bounty's expiration/),
    ]);
  });

  it('an engine that posts a float bid fails with the literal it sent', async () => {
    const report = await testEngine({ url: await fixture({ floatBid: true }), secret: SECRET, bounty: { expirationMs: EXPIRATION_MS } });
    expect(report.ok).toBe(false);
    expect(report.cases[0].messages).toEqual([
      'assertion /bid: must be a JSON integer written as digits, got 1000000000000000000.0 (PolySwarm rejects a float bid with 400)',
    ]);
  });

  it('bail stops at the first failing case', async () => {
    const seen: string[] = [];
    const report = await testEngine({
      url: await fixture({ floatBid: true }),
      secret: SECRET,
      suite: 'all',
      bail: true,
      expirationMs: EXPIRATION_MS,
      onCase: (c) => seen.push(c.name),
    });
    expect(report).toMatchObject({ ok: false, passed: 1, failed: 1 });
    expect(seen).toEqual(['ping', 'bounty: EICAR → malicious']);
  });

  it('an engine that posts twice fails "exactly one answer"', async () => {
    const report = await testEngine({ url: await fixture({ twice: true }), secret: SECRET, bounty: { expirationMs: EXPIRATION_MS } });
    expect(report.cases[0].messages).toEqual([
      expect.stringMatching(/^expected exactly one answer, got 2 \(the second \d+ ms after the first\)$/),
    ]);
  });

  it('an engine that never answers fails after the expiration', async () => {
    const started = Date.now();
    const report = await testEngine({ url: await fixture({ silent: true }), secret: SECRET, bounty: { expirationMs: 1500 } });
    expect(report.cases[0].messages).toEqual([
      expect.stringMatching(/^no answer arrived at response_url before the bounty's expiration/),
      expect.stringMatching(
        /^the engine never downloaded the artifact from http:\/\/127\.0\.0\.1:\d+\/artifacts\/[-0-9a-f]+: if it \(or its worker\) runs in a container/,
      ),
    ]);
    // The way out names the flags.
    expect(report.cases[0].messages[1]).toContain('or pass --listen-host 0.0.0.0 --advertise-host <an address the engine can reach>');
    // Waited through the expiration and the late grace, not much longer.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it('an engine that skips the signature check fails exactly the security cases', async () => {
    const { report } = await suites.noSignatureCheck;
    expect(names(failing(report))).toEqual([
      'security: missing signature → 400',
      'security: wrong secret → 401',
      'security: tampered body → 401',
      'security: uppercase-hex nonsense signature → 401',
      'security: sha256=-prefixed nonsense signature → 401',
      'security: non-ASCII signature header → 4xx, still serving',
      'security: 8 KiB signature header → 4xx, still serving',
      'security: two signature headers → 4xx, still serving',
    ]);
    expect(failing(report)[1].messages).toEqual([
      'the engine accepted a bounty signed with the wrong secret (answered 202); it must verify X-POLYSWARM-SIGNATURE on the raw body and answer 401',
    ]);
  });

  it('an engine that answers 500 to an unsupported event fails analyze', async () => {
    const report = await testEngine({ url: await fixture({ analyze500: true }), secret: SECRET, suite: 'analyze' });
    expect(report.cases).toMatchObject([{ ok: false, name: 'unsupported event (analyze) → 4xx, still serving' }]);
    expect(report.cases[0].messages).toEqual([
      'expected a 4xx answer to the unsupported event "analyze", got 500: {"error":"internal error"} (the reference answers 400 {"X-POLYSWARM-EVENT": "Given event not supported"})',
    ]);
  });

  it('an engine that behaves like the Python reference gets a meaningful report: its known departures', async () => {
    const { report } = await suites.reference;
    expect(names(failing(report))).toEqual([
      'bounty: arbitration → Vote',
      'bounty: v0 field names (guid, artifact_url)',
      'repeated delivery id → one answer',
      ...FAULT_CASES.slice(0, 3),
      'security: non-ASCII signature header → 4xx, still serving',
    ]);
    const [arbitration, v0, repeated, notFound] = failing(report);
    expect(notFound.messages).toEqual([
      expect.stringMatching(
        /^no answer arrived at response_url before the bounty's expiration .*\(the artifact host answers 404; an engine that cannot fetch the file must still answer/,
      ),
    ]);
    expect(arbitration.messages).toEqual([expect.stringContaining('The Python reference engine has this known bug')]);
    expect(v0.messages).toEqual([
      'expected 202 Accepted for the bounty, got 400: {"bounty":"Invalid bounty request"} (this bounty uses the v0 names guid and artifact_url, which engines should still accept)',
    ]);
    expect(repeated.messages).toEqual([expect.stringMatching(/^expected exactly one answer, got 2 .*same X-POLYSWARM-DELIVERY id/)]);
    // Its HTML error page is tolerated with a warning, not failed.
    const malformed = report.cases.find((c) => c.name === 'malformed JSON → 4xx JSON')!;
    expect(malformed.ok).toBe(true);
    expect(malformed.warnings).toEqual([expect.stringMatching(/^the 400 body is not JSON \(text\/html; charset=utf-8\): <!doctype html>/)]);
  });

  it('explains a 401 to a correctly signed request without printing the secret', async () => {
    const report = await testEngine({ url: await fixture(), secret: 'not-the-engine-secret', secretSource: '--secret', suite: 'ping' });
    const message = report.cases[0].messages[0];
    expect(message).toMatch(
      /^the engine answered 401 to a correctly signed request: it does not accept our signature\. Sent 0 bytes \(sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\) signed [0-9a-f]{64} with the secret from --secret\./,
    );
    expect(message).toContain('a proxy re-encodes the JSON body');
    expect(message).toContain('`sha256=` prefix or uppercase hex');
    expect(message).not.toContain('not-the-engine-secret');
  });
});

describe('testEngine: bad targets and bad options', () => {
  it('throws UnreachableError when nothing listens at the URL', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const error = await testEngine({ url: `http://127.0.0.1:${port}/`, secret: SECRET, suite: 'all' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnreachableError);
    expect((error as UnreachableError).message).toBe(`cannot reach the engine at http://127.0.0.1:${port}/: connection refused`);
    expect((error as UnreachableError).hint).toContain('polyswarm-engine serve');
  });

  it('throws UnreachableError when the engine accepts the connection but never answers', async () => {
    const server: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    engines.track(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const error = await testEngine({ url, secret: SECRET, suite: 'ping', timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnreachableError);
    expect((error as Error).message).toBe(`cannot reach the engine at ${url}: no answer within 300 ms`);
  });

  it('refuses an invalid bounty before sending anything, unless allowInvalid', async () => {
    let requests = 0;
    const server = createServer((_req, res) => {
      requests++;
      res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"bounty":"Invalid bounty request"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    engines.track(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const error = await testEngine({ url, secret: SECRET, bounty: { set: { 'rules.max_allowed_bid': 1.5, response_url: 'nope' } } }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(
      'the bounty is not valid, nothing was sent:\n  /response_url: must be an absolute http(s) URL, got "nope"\n  /rules/max_allowed_bid: must be a non-negative integer (wei), got 1.5',
    );
    expect(requests).toBe(0);
    const report = await testEngine({ url, secret: SECRET, bounty: { set: { 'rules.max_allowed_bid': -1 }, allowInvalid: true } });
    expect(report.ok).toBe(true);
    expect(requests).toBe(1);
  });

  it('an engine that accepts an invalid bounty fails the --allow-invalid case', async () => {
    const report = await testEngine({ url: await fixture(), secret: SECRET, bounty: { set: { rules: [] }, allowInvalid: true } });
    expect(report.cases[0].messages[0]).toBe(
      'expected a 4xx answer to an invalid bounty (/rules: must be a JSON object, got array), got 202: {"status":"ACCEPTED"}',
    );
  });

  it('rejects a URL it cannot test and a missing file', async () => {
    await expect(testEngine({ url: 'localhost:3000', secret: SECRET })).rejects.toThrow(UsageError);
    await expect(testEngine({ url: 'ftp://127.0.0.1/', secret: SECRET })).rejects.toThrow('--url "ftp://127.0.0.1/" is not an http(s) URL');
    const url = await fixture();
    await expect(testEngine({ url, secret: SECRET, bounty: { artifact: { file: '/no/such/file' } } })).rejects.toThrow(
      '--file /no/such/file: no such file',
    );
  });
});
