/**
 * The inspector's parts against a real engine on loopback: the byte-bounded history, the exports (the curl command
 * is run with the real curl), the recorder's rotation, and the API's Host/Origin checks.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEngine } from '../../../src/engine/engine.js';
import { curlCommand, harLog } from '../../../src/inspector/exports.js';
import { History } from '../../../src/inspector/history.js';
import { Inspector } from '../../../src/inspector/inspector.js';
import { createRecorder } from '../../../src/inspector/recorder.js';
import { startInspectorServer } from '../../../src/inspector/server.js';
import { TransactionTracker } from '../../../src/inspector/transaction.js';
import type { Transaction } from '../../../src/simulator/recording.js';
import { weiToNct } from '../../../src/protocol/bid.js';
import { createLogger } from '../../../src/util/logger.js';

const SECRET = 'unit-secret';
/** Async: the engine under test runs in this process, and a sync child would block its event loop. */
const sh = async (command: string) => (await promisify(execFile)('sh', ['-c', command], { encoding: 'utf8' })).stdout;
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function collect(): { list: Transaction[]; tracker: TransactionTracker } {
  const list: Transaction[] = [];
  return { list, tracker: new TransactionTracker({ maxBodyBytes: 1024, onComplete: (tx) => list.push(tx) }) };
}

async function engineWith(observer: TransactionTracker) {
  const engine = createEngine({
    secret: SECRET,
    module: { scan: async () => ({ verdict: 'benign' }) },
    observer,
    queue: undefined,
    concurrency: 1,
  });
  const listening = await engine.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => engine.close({ graceMs: 0 }));
  return listening.url;
}

/** A raw request, so Host and Origin are exactly what the test says. */
function raw(
  url: string,
  path: string,
  headers: Record<string, string>,
  method = 'GET',
  body = '',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { method, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('inspector history', () => {
  const ping = (i: number, body = 'x'.repeat(1000)): Transaction => ({
    id: `t-${i}`,
    at: '',
    rev: i + 1,
    source: 'engine',
    event: 'ping',
    delivery: null,
    request: { headers: {}, body, encoding: 'utf8', bytes: body.length },
    response: { status: 200, ackMs: 1 },
  });

  it('keeps the newest transactions within its byte bound, counted in UTF-8 bytes', () => {
    const history = new History(20_000);
    // Three bytes per character in UTF-8: the bound holds for the bytes kept, not the characters.
    for (let i = 0; i < 100; i++) history.put(ping(i, i % 2 ? 'x'.repeat(1000) : '€'.repeat(400)));
    expect(history.bytes).toBeLessThanOrEqual(20_000);
    expect(history.bytes).toBeGreaterThan(10_000);
    const ids = history.list().map((tx) => tx.id);
    expect(ids.length).toBe(history.size);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, k) => `t-${100 - ids.length + k}`));
    expect(history.get('t-0')).toBeUndefined();
    expect(history.get('t-98')).toEqual(ping(98, '€'.repeat(400)));
    expect(history.since(98).map((kept) => [kept.rev, (JSON.parse(kept.json) as Transaction).id])).toEqual([
      [99, 't-98'],
      [100, 't-99'],
    ]);
  });

  it('lists an open transaction in its arrival order, as it is now, and finds each by its own id', async () => {
    const history = new History(1024 * 1024);
    const open = ping(1);
    history.put(ping(0));
    history.open(open);
    // An id that is only a value inside another transaction (a log field) is not that transaction.
    history.put({ ...ping(2), log: [{ at: '', level: 'info', message: 'm', fields: { id: 't-9' } }] });
    open.response.status = 202;
    expect(history.list().map((tx) => [tx.id, tx.response.status])).toEqual([
      ['t-0', 200],
      ['t-1', 202],
      ['t-2', 200],
    ]);
    expect(history.get('t-1')).toEqual(open);
    expect(history.get('t-9')).toBeUndefined();
    history.put(open);
    // Written within WRITE_MS, off the request path; still listed where it arrived.
    await vi.waitFor(() => expect(history.waiting).toBe(0));
    expect(history.list().map((tx) => tx.id)).toEqual(['t-0', 't-1', 't-2']);
    expect(history.get('t-1')).toEqual(open);
    expect(history.size).toBe(3);
  });

  it('writes finished transactions into the ring in batches: after a short wait, or at once when many wait', async () => {
    const history = new History(1024 * 1024);
    history.put(ping(0));
    // Not a turn of the event loop per transaction (that cost a lone ping an extra pass of the loop): a timer.
    await new Promise((resolve) => setImmediate(resolve));
    expect(history.waiting).toBe(1);
    await vi.waitFor(() => expect(history.waiting).toBe(0));
    expect(history.bytes).toBe(Buffer.byteLength(JSON.stringify(ping(0))));
    // Many at once are written on the next turn, not after the wait, so the objects waiting stay few (and not by the
    // put itself: it runs before the request it records is answered).
    for (let i = 1; i <= 512; i++) history.put(ping(i));
    expect(history.waiting).toBe(512);
    await new Promise((resolve) => setImmediate(resolve));
    expect(history.waiting).toBe(0);
    // A read writes out what waits first.
    history.put(ping(513));
    expect(history.size).toBe(514);
    expect(history.waiting).toBe(0);
  });

  it('streams the changes of one turn to a watching page at once, in the order they were made', async () => {
    const inspector = new Inspector({ secret: SECRET, maxBytes: 1024 * 1024, maxBodyBytes: 1024 });
    const batches: { rev: number; id: string }[][] = [];
    const stop = inspector.subscribe((batch) =>
      batches.push(batch.map((c) => ({ rev: c.rev, id: (JSON.parse(c.json) as Transaction).id }))),
    );
    const ping = { event: 'ping', delivery: null, status: 200, ackMs: 1 };
    for (let i = 0; i < 3; i++) inspector.tracker.onDelivery(ping);
    expect(batches).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    const ids = inspector.history.list().map((tx) => tx.id);
    expect(batches).toEqual([ids.map((id, i) => ({ rev: i + 1, id }))]);
    stop();
    inspector.tracker.onDelivery(ping);
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches.length).toBe(1);
    expect(inspector.history.size).toBe(4);
  });

  it('shows bids in NCT', () => {
    expect(weiToNct('1000000000000000000')).toBe('1');
    expect(weiToNct('62500000000000000')).toBe('0.0625');
    expect(weiToNct('0')).toBe('0');
  });
});

describe('inspector exports', () => {
  it('exports a curl command that the engine accepts, signed without the secret in it', async () => {
    const { list, tracker } = collect();
    const url = await engineWith(tracker);
    const command = curlCommand(url, 'ping', '', SECRET);
    expect(command).not.toContain(SECRET);
    const out = await sh(`${command} -w ' %{http_code}'`);
    expect(out.trim().endsWith('200')).toBe(true);
    expect(list.at(-1)).toMatchObject({ event: 'ping', response: { status: 200 } });
    const har = harLog(list, url) as {
      log: {
        version: string;
        entries: { request: { method: string; url: string; headers: { name: string }[] }; response: { status: number } }[];
      };
    };
    expect(har.log.version).toBe('1.2');
    expect(har.log.entries[0]!.request).toMatchObject({ method: 'POST', url });
    expect(har.log.entries[0]!.request.headers.map((h) => h.name)).toContain('x-polyswarm-signature');
    expect(har.log.entries[0]!.response.status).toBe(200);
  });
});

describe('recorder', () => {
  it('rotates past --record-max-bytes, writes 0600, and never the secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pse-record-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'rec.jsonl');
    const recorder = createRecorder({ file, maxBytes: 4096, maxBodyBytes: 1024, logger: createLogger({ level: 'silent' }) });
    const url = await engineWith(recorder.observer as TransactionTracker);
    for (let i = 0; i < 30; i++) await sh(curlCommand(url, 'ping', '', SECRET));
    recorder.close();
    expect(existsSync(`${file}.1`)).toBe(true);
    for (const path of [file, `${file}.1`]) {
      expect(statSync(path).size).toBeLessThanOrEqual(4096);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(readFileSync(path, 'utf8')).not.toContain(SECRET);
    }
  });
});

describe('inspector API', () => {
  it('answers its own host only, refuses other origins, and says what is wrong with a request', async () => {
    const inspector = new Inspector({ secret: SECRET, maxBytes: 1024 * 1024, maxBodyBytes: 1024 });
    const url = await engineWith(inspector.tracker);
    const server = await startInspectorServer(inspector, 0);
    closers.push(() => server.close());
    await inspector.connect(url);
    closers.push(() => inspector.close());
    await sh(curlCommand(url, 'ping', '', SECRET));
    const host = new URL(server.url).host;

    const ok = await raw(server.url, '/api/transactions', { host });
    expect(ok.status).toBe(200);
    const tx = (JSON.parse(ok.body) as { transactions: Transaction[] }).transactions[0]!;
    expect(tx.event).toBe('ping');
    expect((await raw(server.url, '/api/transactions', { host: `localhost:${server.url.split(':')[2]!.replace('/', '')}` })).status).toBe(
      200,
    );
    const rebound = await raw(server.url, '/api/transactions', { host: 'attacker.example' });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain('is not this inspector');
    const cross = await raw(
      server.url,
      `/api/transactions/${tx.id}/replay`,
      { host, origin: 'http://attacker.example', 'content-type': 'application/json' },
      'POST',
      '{"mode":"resigned"}',
    );
    expect(cross.status).toBe(403);
    const same = await raw(
      server.url,
      `/api/transactions/${tx.id}/replay`,
      { host, origin: `http://${host}`, 'content-type': 'application/json' },
      'POST',
      '{"mode":"resigned"}',
    );
    expect(same.status).toBe(200);
    expect(JSON.parse(same.body)).toMatchObject({ status: 200 });
    const badMode = await raw(server.url, `/api/transactions/${tx.id}/replay`, { host }, 'POST', '{"mode":"twice"}');
    expect(badMode).toMatchObject({ status: 400, body: expect.stringContaining('mode must be exact, resigned or edited') });
    expect((await raw(server.url, '/api/transactions/nope', { host })).status).toBe(404);
    expect((await raw(server.url, '/api/import', { host }, 'POST', 'not json\n')).status).toBe(400);
  });
});
