/**
 * The scan pipeline end to end: bounties in through the app, artifacts and answers over real loopback HTTP.
 * Every accepted, unexpired bounty must get exactly one answer before its expiration, whatever the scan does.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type EngineOptions } from '../../../src/engine/engine.js';
import { ArtifactError, type ScanModule } from '../../../src/engine/types.js';
import { createLogger } from '../../../src/util/logger.js';
import { bountyBody, EICAR, startLoopback, until, webhook, type Loopback } from '../../helpers/loopback.js';
import { work } from '../../helpers/poll.js';

let lb: Loopback;
let engine: Engine | undefined;

beforeEach(async () => {
  lb = await startLoopback();
});
afterEach(async () => {
  await engine?.close({ graceMs: 0 });
  engine = undefined;
  await lb.close();
});

function boot(module: ScanModule | (() => ScanModule), options: Partial<EngineOptions> = {}): Engine {
  engine = createEngine({ secret: 'qwertyuiop', deliveryMarginMs: 500, module, ...options });
  return engine;
}

/** Sends a signed bounty through the app and expects the 202. */
async function submit(overrides: Record<string, unknown> = {}, delivery?: string): Promise<void> {
  const w = webhook(bountyBody({ response_url: `${lb.origin}/answer`, artifact_uri: `${lb.origin}/artifact`, ...overrides }), { delivery });
  const response = await engine!.fetch(new Request('http://engine.test/', { method: 'POST', headers: w.headers, body: w.body }));
  expect(response.status).toBe(202);
}

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();
const eicarScan: ScanModule = {
  scan: async (bounty) => {
    const bytes = await bounty.fetchArtifact();
    return bytes.toString('latin1') === EICAR
      ? { verdict: 'malicious', metadata: { malware_family: 'EICAR-Test-File' } }
      : { verdict: 'benign' };
  },
};

/** The answer's comments, the reason of an `unknown`. */
const comments = (json: Record<string, unknown>) => (json.metadata as { comments?: string[] }).comments;

describe('scan pipeline', () => {
  it('EICAR: downloads the artifact, posts an Assertion with the reference bid as exact JSON digits', async () => {
    lb.artifact('/artifact', EICAR);
    lb.receiver('/answer');
    boot(eicarScan);
    await submit({ sha256: createHash('sha256').update(EICAR).digest('hex') });
    const [answer] = await lb.waitForAnswers(1);
    expect(answer!.contentType).toBe('application/json');
    expect(answer!.raw.toString()).toMatch(
      /^\{"verdict":"malicious","bid":1000000000000000000,"metadata":\{"malware_family":"EICAR-Test-File",/,
    );
    expect(Object.keys(answer!.json.metadata as object).slice(0, 6)).toEqual([
      'malware_family',
      'domains',
      'ip_addresses',
      'stix',
      'scanner',
      'heuristic',
    ]);
    await engine!.idle();
    expect(engine!.stats()).toMatchObject({ accepted: 1, answered: 1, answerFailed: 0 });
  });

  it('a scan that throws: unknown, bid 0, ERROR:<message>', async () => {
    lb.receiver('/answer');
    boot({
      scan: () => {
        throw new Error('engine binary missing');
      },
    });
    await submit();
    const [answer] = await lb.waitForAnswers(1);
    expect(answer!.json).toMatchObject({ verdict: 'unknown', bid: 0 });
    expect(comments(answer!.json)).toEqual(['ERROR:engine binary missing']);
  });

  it('a scan that hangs (and honours its signal): SKIPPED:TIMEOUT at the deadline, before the expiration', async () => {
    lb.receiver('/answer');
    let signalFired = 0;
    boot({
      scan: (_b, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => {
            signalFired = Date.now();
            reject(new DOMException('aborted', 'AbortError'));
          }),
        ),
    });
    const expiration = Date.now() + 1500;
    await submit({ expiration: new Date(expiration).toISOString() });
    const [answer] = await lb.waitForAnswers(1, { timeoutMs: 3000 });
    expect(comments(answer!.json)).toEqual(['SKIPPED:TIMEOUT']);
    expect(answer!.json).toMatchObject({ verdict: 'unknown', bid: 0 });
    expect(signalFired).toBeGreaterThanOrEqual(expiration - 500 - 20);
    expect(answer!.at).toBeLessThan(expiration);
  });

  it('a scan that ignores its signal still gets SKIPPED:TIMEOUT answered in time (the engine does not wait for it)', async () => {
    lb.receiver('/answer');
    let finished = false;
    boot({
      scan: () =>
        new Promise((resolve) =>
          setTimeout(() => {
            finished = true;
            resolve({ verdict: 'malicious' });
          }, 2500).unref(),
        ),
    });
    const expiration = Date.now() + 1500;
    await submit({ expiration: new Date(expiration).toISOString() });
    const [answer] = await lb.waitForAnswers(1, { timeoutMs: 3000 });
    expect(comments(answer!.json)).toEqual(['SKIPPED:TIMEOUT']);
    expect(answer!.at).toBeLessThan(expiration);
    expect(finished).toBe(false);
  });

  it('an invalid scan result (uppercase verdict): unknown with ERROR:invalid scan result', async () => {
    lb.receiver('/answer');
    boot({ scan: () => ({ verdict: 'MALICIOUS' }) as never });
    await submit();
    const [answer] = await lb.waitForAnswers(1);
    expect(answer!.json.verdict).toBe('unknown');
    expect(comments(answer!.json)![0]).toMatch(/^ERROR:invalid scan result: .*lowercase/);
  });

  it('artifact 404: SKIPPED:CANNOT-FETCH', async () => {
    lb.receiver('/answer');
    boot(eicarScan);
    await submit({ artifact_uri: `${lb.origin}/missing` });
    const [answer] = await lb.waitForAnswers(1);
    expect(comments(answer!.json)).toEqual(['SKIPPED:CANNOT-FETCH']);
  });

  it('artifact over the cap, declared by Content-Length: SKIPPED:TOO-LARGE', async () => {
    lb.artifact('/artifact', Buffer.alloc(200 * 1024));
    lb.receiver('/answer');
    boot(eicarScan, { maxArtifactBytes: 64 * 1024 });
    await submit();
    const [answer] = await lb.waitForAnswers(1);
    expect(comments(answer!.json)).toEqual(['SKIPPED:TOO-LARGE']);
  });

  it('artifact over the cap, chunked (no length to trust): the byte count stops it, SKIPPED:TOO-LARGE', async () => {
    lb.artifact('/artifact', Buffer.alloc(200 * 1024), { chunked: true });
    lb.receiver('/answer');
    let message = '';
    boot(
      {
        scan: async (b) => {
          try {
            await b.fetchArtifact();
          } catch (error) {
            message = (error as Error).message;
            throw error;
          }
          return { verdict: 'benign' };
        },
      },
      { maxArtifactBytes: 64 * 1024 },
    );
    await submit();
    const [answer] = await lb.waitForAnswers(1);
    expect(comments(answer!.json)).toEqual(['SKIPPED:TOO-LARGE']);
    expect(message).toMatch(/over the 65536-byte limit \(stopped reading at \d+ bytes\)/);
  });

  it('sha256 mismatch: SKIPPED:HASH-MISMATCH', async () => {
    lb.artifact('/artifact', EICAR);
    lb.receiver('/answer');
    boot(eicarScan);
    await submit({ sha256: 'ab'.repeat(32) });
    const [answer] = await lb.waitForAnswers(1);
    expect(comments(answer!.json)).toEqual(['SKIPPED:HASH-MISMATCH']);
  });

  it('a redirect loop: at most 5 redirects followed, then SKIPPED:CANNOT-FETCH', async () => {
    lb.route('/artifact', (_req, res) => void res.writeHead(302, { location: '/loop' }).end());
    lb.route('/loop', (_req, res) => void res.writeHead(302, { location: '/artifact' }).end());
    lb.receiver('/answer');
    boot(eicarScan);
    await submit();
    const [answer] = await lb.waitForAnswers(1);
    expect(comments(answer!.json)).toEqual(['SKIPPED:CANNOT-FETCH']);
    expect(lb.hits.filter((h) => h.path === '/artifact' || h.path === '/loop')).toHaveLength(6);
  });

  it('two redirects are followed to the artifact', async () => {
    lb.route('/artifact', (_req, res) => void res.writeHead(301, { location: '/hop' }).end());
    lb.route('/hop', (_req, res) => void res.writeHead(307, { location: `${lb.origin}/real` }).end());
    lb.artifact('/real', EICAR);
    lb.receiver('/answer');
    boot(eicarScan);
    await submit();
    const [answer] = await lb.waitForAnswers(1);
    expect(answer!.json.verdict).toBe('malicious');
  });

  it('artifactPath: a temp file with the bytes during the scan, removed after it', async () => {
    lb.artifact('/artifact', EICAR);
    lb.receiver('/answer');
    let path = '';
    boot({
      scan: async (b) => {
        path = await b.artifactPath();
        expect(readFileSync(path, 'latin1')).toBe(EICAR);
        expect(await b.artifactPath()).toBe(path);
        return { verdict: 'malicious' };
      },
    });
    await submit();
    await lb.waitForAnswers(1);
    await engine!.idle();
    expect(path).not.toBe('');
    await until(() => !existsSync(path), 'the temp file to be removed', 2000);
    expect(lb.hits.filter((h) => h.path === '/artifact')).toHaveLength(1);
  });

  it('a URL artifact has no file: fetchArtifact fails with SKIPPED:TYPE-UNSUPPORTED', async () => {
    lb.receiver('/answer');
    boot(eicarScan);
    await submit({ artifact_type: 'url', artifact_uri: 'https://example.invalid/' });
    const [answer] = await lb.waitForAnswers(1);
    expect(comments(answer!.json)).toEqual(['SKIPPED:TYPE-UNSUPPORTED']);
    expect(lb.hits.filter((h) => h.path !== '/answer')).toEqual([]);
  });

  it('an ArtifactError thrown by the author is answered with its SKIP comment', async () => {
    lb.receiver('/answer');
    boot({
      scan: () => {
        throw new ArtifactError('unsupported', 'not a PE file');
      },
    });
    await submit();
    const [answer] = await lb.waitForAnswers(1);
    expect(comments(answer!.json)).toEqual(['SKIPPED:TYPE-UNSUPPORTED']);
  });

  it('arbitration: a Vote, with no bid key at all', async () => {
    lb.receiver('/answer');
    boot({ scan: () => ({ verdict: 'malicious' }) });
    await submit({ phase: 'arbitration' });
    const [answer] = await lb.waitForAnswers(1);
    expect(Object.keys(answer!.json)).toEqual(['verdict', 'metadata']);
    expect(answer!.raw.toString()).not.toContain('"bid"');
  });

  it('a computeBid bid above 2^53 is posted as exact digits', async () => {
    lb.receiver('/answer');
    boot({ scan: () => ({ verdict: 'malicious' }), computeBid: () => 2n ** 60n + 1n });
    await submit({ rules: { min_allowed_bid: 1n, max_allowed_bid: 2n ** 70n } });
    const [answer] = await lb.waitForAnswers(1);
    expect(answer!.raw.toString()).toContain('"bid":1152921504606846977,');
  });

  it('computeBid that throws: the default bid (reference formula over the rules)', async () => {
    lb.receiver('/answer');
    boot({
      scan: () => ({ verdict: 'benign', confidence: 0.5 }),
      computeBid: () => {
        throw new Error('no');
      },
    });
    await submit();
    const [answer] = await lb.waitForAnswers(1);
    expect(answer!.raw.toString()).toContain('"bid":531250000000000000,');
  });

  it('a bid outside the rules is clamped; unknown and suspicious bid 0 even if computeBid says otherwise', async () => {
    lb.receiver('/a');
    lb.receiver('/b');
    boot({
      scan: (b) => ({ verdict: b.id === '1' ? 'malicious' : 'suspicious' }),
      computeBid: () => 5n * 10n ** 18n,
    });
    await submit({ id: 1, response_url: `${lb.origin}/a` });
    await submit({ id: 2, response_url: `${lb.origin}/b` });
    const [a] = await lb.waitForAnswers(1, { path: '/a' });
    const [b] = await lb.waitForAnswers(1, { path: '/b' });
    expect(a!.raw.toString()).toContain('"bid":1000000000000000000,');
    expect(b!.raw.toString()).toContain('"bid":0,');
  });

  it('the module getter is called per bounty, so a swapped module takes effect on the next one', async () => {
    lb.receiver('/answer');
    let current: ScanModule = { scan: () => ({ verdict: 'benign' }) };
    boot(() => current);
    await submit({ id: 1 });
    await lb.waitForAnswers(1);
    current = { scan: () => ({ verdict: 'malicious' }) };
    await submit({ id: 2 });
    const answers = await lb.waitForAnswers(2);
    expect(answers.map((a) => a.json.verdict)).toEqual(['benign', 'malicious']);
  });

  it('dequeued past the scan deadline but before the expiration: SKIPPED:TIMEOUT without scanning', async () => {
    lb.receiver('/answer');
    const scanned: string[] = [];
    boot(
      {
        scan: async (b) => {
          scanned.push(b.id);
          await work(800);
          return { verdict: 'benign' };
        },
      },
      { concurrency: 1, deliveryMarginMs: 600 },
    );
    await submit({ id: 1, expiration: inMs(3000) });
    await until(() => scanned.length === 1, 'the first scan to start');
    // Behind a busy slot, its scan deadline (expiration − 600 ms) comes while it waits: the watchdog answers it.
    await submit({ id: 2, expiration: inMs(1300) });
    const answers = await lb.waitForAnswers(2, { timeoutMs: 4000 });
    const second = answers.find((a) => comments(a.json)?.[0] === 'SKIPPED:TIMEOUT');
    expect(second).toBeDefined();
    expect(second!.at).toBeLessThan(answers.find((a) => a !== second)!.at);
    expect(scanned).toEqual(['1']);
  });

  it('a bounty inside its delivery margin on arrival is answered SKIPPED:TIMEOUT at once, before its expiration', async () => {
    lb.receiver('/answer');
    boot({ scan: () => work(900).then(() => ({ verdict: 'benign' as const })) }, { concurrency: 1 });
    await submit({ id: 1, expiration: inMs(3000) });
    const sent = Date.now();
    await submit({ id: 2, expiration: inMs(700) });
    const answers = await lb.waitForAnswers(2);
    await engine!.idle();
    const quick = answers.find((a) => comments(a.json)?.[0] === 'SKIPPED:TIMEOUT')!;
    expect(quick.at).toBeLessThan(sent + 700);
    expect(engine!.stats()).toMatchObject({ answered: 2, expired: 0 });
  });
});

describe('answer delivery', () => {
  it('a response_url failing twice with 503 then accepting: exactly one accepted answer, 3 attempts', async () => {
    lb.receiver('/answer', [503, 503, 200]);
    boot({ scan: () => ({ verdict: 'benign' }) });
    await submit({ expiration: inMs(4000) });
    await lb.waitForAnswers(1, { timeoutMs: 4000 });
    await engine!.idle();
    expect(lb.attempts.map((a) => a.status)).toEqual([503, 503, 200]);
    expect(lb.answers).toHaveLength(1);
    expect(engine!.stats()).toMatchObject({ answered: 1, answerFailed: 0 });
  });

  it('429 with a numeric Retry-After waits that long before retrying', async () => {
    lb.receiver('/answer', [429, 200], { 'retry-after': '1' });
    boot({ scan: () => ({ verdict: 'benign' }) });
    await submit({ expiration: inMs(4000) });
    await lb.waitForAnswers(1, { timeoutMs: 4000 });
    expect(lb.attempts[1]!.at - lb.attempts[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('another 4xx is not retried', async () => {
    lb.receiver('/answer', [400, 200]);
    boot({ scan: () => ({ verdict: 'benign' }) });
    await submit();
    await until(() => lb.attempts.length === 1, 'the first attempt');
    await engine!.idle();
    expect(lb.attempts).toHaveLength(1);
    expect(engine!.stats()).toMatchObject({ answered: 0, answerFailed: 1 });
  });

  it('a response_url that is down: retried until the expiration, never after, no crash', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const lines: Record<string, unknown>[] = [];
    const stream = { write: (line: string) => lines.push(JSON.parse(line)) } as unknown as NodeJS.WritableStream;
    boot({ scan: () => ({ verdict: 'benign' }) }, { logger: createLogger({ level: 'info', format: 'json', stream }) });
    const expiration = Date.now() + 1500;
    await submit({ response_url: `http://127.0.0.1:${port}/answer`, expiration: new Date(expiration).toISOString() });
    await until(() => engine!.stats().answerFailed === 1, 'the delivery to give up', 4000);
    expect(Date.now()).toBeGreaterThanOrEqual(expiration - 600);
    const answer = lines.find((l) => l.msg === 'answer')!;
    expect(answer).toMatchObject({ verdict: 'benign', delivery: 'ECONNREFUSED' });
    expect(answer.attempts).toBeGreaterThanOrEqual(3);
    const ping = webhook('', { event: 'ping' });
    const r = await engine!.fetch(new Request('http://engine.test/', { method: 'POST', headers: ping.headers, body: ping.body }));
    expect(r.status).toBe(200);
  });
});

describe('graceful close', () => {
  it('close() with queued work: every accepted bounty answered exactly once (scanned or SKIPPED:SHUTDOWN)', async () => {
    lb.receiver('/answer');
    boot({ scan: () => work(150).then(() => ({ verdict: 'benign' as const })) }, { concurrency: 2 });
    for (let i = 0; i < 20; i++) await submit({ id: i, expiration: inMs(5000) });
    await until(() => engine!.stats().running === 2, 'two scans to run');
    await engine!.close({ graceMs: 1000 });
    expect(lb.answers).toHaveLength(20);
    const byId = new Map<string, number>();
    for (const a of lb.answers) {
      const id = a.json.verdict === 'benign' ? 'scanned' : comments(a.json)![0]!;
      byId.set(id, (byId.get(id) ?? 0) + 1);
    }
    expect(byId.get('scanned')).toBeGreaterThanOrEqual(2);
    expect((byId.get('scanned') ?? 0) + (byId.get('SKIPPED:SHUTDOWN') ?? 0)).toBe(20);
    expect(engine!.stats()).toMatchObject({ answered: 20, queued: 0, running: 0 });
  });

  it('a scan still running when the grace period ends is answered SKIPPED:SHUTDOWN', async () => {
    lb.receiver('/answer');
    boot({ scan: () => new Promise(() => {}) }, { concurrency: 1 });
    await submit({ expiration: inMs(5000) });
    await until(() => engine!.stats().running === 1, 'the scan to run');
    const started = Date.now();
    await engine!.close({ graceMs: 200 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(lb.answers).toHaveLength(1);
    expect(comments(lb.answers[0]!.json)).toEqual(['SKIPPED:SHUTDOWN']);
  });
});
