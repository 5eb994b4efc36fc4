/**
 * Acknowledging must not depend on the queue's length. How fast is bench figure 2's job (timings are never asserted
 * in tests: shared machines); this test asserts what must hold whatever the machine: with 1,000 slow scans queued,
 * every new bounty is still acknowledged 202 and really queued, each acknowledgement is logged, and at shutdown
 * every queued bounty is answered exactly once. The memory queue, so that shutdown answers them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../../src/engine/engine.js';
import { createLogger } from '../../../src/util/logger.js';
import { bountyBody, startLoopback, webhook, type Loopback } from '../../helpers/loopback.js';

const SAMPLES = 200;
const QUEUED = 1000;

let lb: Loopback;
let engine: Engine;
let url: string;
const serverAck: number[] = [];

beforeAll(async () => {
  lb = await startLoopback();
  lb.receiver('/answer');
  const stream = {
    write: (line: string) => {
      const entry = JSON.parse(line);
      if (entry.msg === 'delivery') serverAck.push(entry.ack_ms);
    },
  } as unknown as NodeJS.WritableStream;
  engine = createEngine({
    secret: 'qwertyuiop',
    concurrency: 2,
    capacity: 5000,
    logger: createLogger({ level: 'info', format: 'json', stream }),
    // Slow scans: they only end at their deadline (or at shutdown).
    module: { scan: (_b, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({ verdict: 'unknown' }))) },
  });
  url = (await engine.listen({ port: 0 })).url;
});
afterAll(async () => {
  await engine.close({ graceMs: 0 });
  await lb.close();
});

let nextId = 0;
async function ack(): Promise<number> {
  const w = webhook(
    bountyBody({ id: nextId, response_url: `${lb.origin}/answer?id=${nextId++}`, expiration: new Date(Date.now() + 60_000).toISOString() }),
  );
  const started = performance.now();
  const response = await fetch(url, { method: 'POST', headers: w.headers, body: w.body });
  await response.text();
  const ms = performance.now() - started;
  expect(response.status).toBe(202);
  return ms;
}

function summary(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: +at(0.5).toFixed(2), p95: +at(0.95).toFixed(2), max: +sorted[sorted.length - 1]!.toFixed(2) };
}

describe('acknowledging with a long queue', () => {
  it(`with ${QUEUED} slow scans queued, every new bounty is still acknowledged 202 and queued`, async () => {
    for (let i = 0; i < 100; i++) await ack(); // warm up the connection and the JIT
    // Warm-up bounties hold the two scan slots; the rest of the queue is empty.
    const emptyStart = serverAck.length;
    const empty: number[] = [];
    for (let i = 0; i < SAMPLES; i++) empty.push(await ack());
    const emptyServer = serverAck.slice(emptyStart);

    while (engine.stats().queued < QUEUED) await ack();
    const queued = engine.stats().queued;
    expect(queued).toBeGreaterThanOrEqual(QUEUED);
    const loadedStart = serverAck.length;
    const loaded: number[] = [];
    for (let i = 0; i < SAMPLES; i++) loaded.push(await ack());
    const loadedServer = serverAck.slice(loadedStart);
    // Every one of them was queued behind the others (none dropped, none refused), and logged with its ack time.
    expect(engine.stats().queued).toBe(queued + SAMPLES);
    expect(loadedServer).toHaveLength(SAMPLES);
    expect(loadedServer.every((ms) => typeof ms === 'number' && ms >= 0)).toBe(true);
    expect(engine.stats()).toMatchObject({ rejected: 0, duplicates: 0 });

    const report = {
      samples: SAMPLES,
      empty_queue: { round_trip_ms: summary(empty), server_ack_ms: summary(emptyServer) },
      [`${queued}_queued`]: { round_trip_ms: summary(loaded), server_ack_ms: summary(loadedServer) },
    };
    console.log(`ack latency: ${JSON.stringify(report)}`);
  });

  it('shutdown answers every queued bounty exactly once (SKIPPED:SHUTDOWN)', async () => {
    const accepted = engine.stats().accepted;
    await engine.close({ graceMs: 0 });
    expect(lb.answers).toHaveLength(accepted);
    // One answer per bounty: every id once, none twice.
    expect(new Set(lb.answers.map((a) => a.url)).size).toBe(accepted);
    expect(lb.answers.every((a) => (a.json.metadata as { comments: string[] }).comments[0] === 'SKIPPED:SHUTDOWN')).toBe(true);
    expect(engine.stats()).toMatchObject({ answered: accepted, answerFailed: 0, queued: 0, running: 0 });
  });
});
