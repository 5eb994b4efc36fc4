/** download.ts and deliver.ts on their own, against the loopback host. */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deliverAnswer } from '../../../src/engine/deliver.js';
import { downloadArtifact } from '../../../src/engine/download.js';
import { ArtifactError } from '../../../src/engine/types.js';
import { startLoopback, type Loopback } from '../../helpers/loopback.js';

let lb: Loopback;
beforeEach(async () => {
  lb = await startLoopback();
});
afterEach(async () => {
  await lb.close();
});

const signal = () => AbortSignal.timeout(5000);

async function reason(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ArtifactError);
  return (error as ArtifactError).reason;
}

describe('downloadArtifact', () => {
  it('returns the exact bytes, checking the sha256 when given', async () => {
    const url = lb.artifact('/a', Buffer.from([0, 1, 2, 255]));
    const sha = createHash('sha256')
      .update(Buffer.from([0, 1, 2, 255]))
      .digest('hex');
    expect(await downloadArtifact(url, { maxBytes: 10, signal: signal(), sha256: sha })).toEqual(Buffer.from([0, 1, 2, 255]));
    const wrong = createHash('sha256').update('other').digest('hex');
    expect(await reason(downloadArtifact(url, { maxBytes: 10, signal: signal(), sha256: wrong }))).toBe('hash-mismatch');
  });

  it('exactly maxBytes is fine; one more is too-large', async () => {
    const url = lb.artifact('/a', Buffer.alloc(100), { chunked: true });
    expect((await downloadArtifact(url, { maxBytes: 100, signal: signal() })).length).toBe(100);
    expect(await reason(downloadArtifact(url, { maxBytes: 99, signal: signal() }))).toBe('too-large');
  });

  it('a redirect to another scheme, a non-2xx and a refused connection are cannot-fetch', async () => {
    lb.route('/ftp', (_req, res) => void res.writeHead(302, { location: 'ftp://127.0.0.1/x' }).end());
    lb.route('/500', (_req, res) => void res.writeHead(500).end());
    expect(await reason(downloadArtifact(`${lb.origin}/ftp`, { maxBytes: 10, signal: signal() }))).toBe('cannot-fetch');
    expect(await reason(downloadArtifact(`${lb.origin}/500`, { maxBytes: 10, signal: signal() }))).toBe('cannot-fetch');
    expect(await reason(downloadArtifact('http://127.0.0.1:1/x', { maxBytes: 10, signal: signal() }))).toBe('cannot-fetch');
  });

  it('a server that stalls mid-body hits the deadline: timeout', async () => {
    lb.route('/stall', (_req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write('partial');
    });
    const started = Date.now();
    expect(await reason(downloadArtifact(`${lb.origin}/stall`, { maxBytes: 10_000, signal: AbortSignal.timeout(300) }))).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('deliverAnswer', () => {
  const request = (url: string, expiresInMs = 3000) => ({
    url,
    body: '{"verdict":"unknown","bid":0,"metadata":{}}',
    expiration: new Date(Date.now() + expiresInMs),
    bountyId: '1',
    key: '1:',
  });

  it('posts the exact body as application/json', async () => {
    const url = lb.receiver('/answer');
    const result = await deliverAnswer(request(url));
    expect(result).toEqual({ ok: true, status: 200, attempts: 1 });
    expect(lb.answers[0]!.raw.toString()).toBe('{"verdict":"unknown","bid":0,"metadata":{}}');
    expect(lb.answers[0]!.contentType).toBe('application/json');
  });

  it('never posts once the expiration has passed', async () => {
    const url = lb.receiver('/answer');
    const result = await deliverAnswer(request(url, -1));
    expect(result).toMatchObject({ ok: false, attempts: 0, error: 'expired before delivery' });
    expect(lb.attempts).toEqual([]);
  });

  it('follows a 307 keeping the POST and its body', async () => {
    lb.route('/moved', (_req, res) => void res.writeHead(307, { location: '/answer' }).end());
    lb.receiver('/answer');
    const result = await deliverAnswer(request(`${lb.origin}/moved`));
    expect(result.ok).toBe(true);
    expect(lb.answers[0]!.json.verdict).toBe('unknown');
  });

  it('a 5xx until the expiration: gives up, with the last status, never after the expiration', async () => {
    const url = lb.receiver('/answer', [502]);
    const expiration = Date.now() + 800;
    const result = await deliverAnswer({ ...request(url), expiration: new Date(expiration) }, { baseDelayMs: 50 });
    expect(result).toMatchObject({ ok: false, status: 502, error: 'HTTP 502' });
    expect(result.attempts).toBeGreaterThanOrEqual(3);
    expect(lb.attempts.every((a) => a.at < expiration)).toBe(true);
  });

  it('a Retry-After beyond the expiration ends the retries at once', async () => {
    const url = lb.receiver('/answer', [503, 200], { 'retry-after': '30' });
    const result = await deliverAnswer(request(url));
    expect(result).toMatchObject({ ok: false, status: 503, attempts: 1 });
  });
});
