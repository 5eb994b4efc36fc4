/**
 * Every protocol limit is a 4xx, and no body stalls the others (issue 24, items 6 and 7), on the built bin: an id
 * longer than the journal can key is a 400 that says why (never a 503 retried forever), one just under the limit is
 * accepted and answered, and a signed body of 20,000 strings does not hold up a ping sent meanwhile.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MAX_ID_BYTES } from '../../src/protocol/bounty.js';
import { sign } from '../../src/protocol/signature.js';
import { work } from '../helpers/poll.js';
import { makeProject, READY, SECRET, spawnBin, startLoopback, useCleanup } from './serve-helpers.js';

const { cleanup, track } = useCleanup();

const SCAN = `export async function scan(bounty) {
  await bounty.fetchArtifact();
  return { verdict: 'benign', metadata: { malware_family: '' } };
}
`;

async function startEngine() {
  const project = makeProject({ 'src/scan.mjs': SCAN });
  cleanup.push(project.remove);
  const child = track(spawnBin(['start', '--port', '0', '--cwd', project.dir], { WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'info' }));
  const [, url] = await child.waitFor(READY, 20_000);
  return { child, url: url! };
}

async function deliver(url: string, event: string, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-polyswarm-event': event,
      'x-polyswarm-delivery': randomUUID(),
      'x-polyswarm-signature': sign(SECRET, body),
    },
    body,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

function bounty(host: string, id: string, metadata: Record<string, unknown> = {}): string {
  // metadata before rules: the body's only big numbers (the bids) come last, the old quadratic case.
  return JSON.stringify({
    id,
    artifact_type: 'file',
    artifact_uri: `${host}artifact`,
    expiration: new Date(Date.now() + 20_000).toISOString(),
    response_url: `${host}answer/${encodeURIComponent(id)}`,
    phase: 'assertion',
    metadata,
    rules: { min_allowed_bid: 62500000000000000, max_allowed_bid: 1000000000000000000 },
  });
}

describe('protocol limits (start)', () => {
  it(`an id over ${MAX_ID_BYTES} bytes is a 400 naming /id and the limit; a 1,000-byte id is accepted and answered`, async () => {
    const host = await startLoopback();
    cleanup.push(host.close);
    const { child, url } = await startEngine();

    const long = 'L'.repeat(4096);
    const refused = await deliver(url, 'bounty', bounty(host.url, long));
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({
      errors: [{ path: '/id', message: `is 4096 bytes long; at most ${MAX_ID_BYTES} bytes (UTF-8) are accepted` }],
    });

    const id = `${'k'.repeat(990)}-${'0123456789'.slice(0, 9)}`;
    expect(Buffer.byteLength(id)).toBe(1000);
    expect((await deliver(url, 'bounty', bounty(host.url, id))).status).toBe(202);
    const [answer] = await host.waitForAnswers(1, 15_000);
    expect(answer).toMatchObject({ id, body: { verdict: 'benign' } });

    // The refusal's log line says why without the id; the accepted id is logged by its start and size only.
    await child.waitFor(/status=202/);
    const lines = child.lines.join('\n');
    expect(lines).not.toContain(long.slice(0, 200));
    expect(lines).not.toContain(id.slice(0, 200));
    expect(lines).toContain(`${id.slice(0, 64)}…(1000 bytes)`);
    expect(Math.max(...child.lines.map((l) => l.length))).toBeLessThan(2000);
    child.kill('SIGTERM');
    expect(await child.exited()).toBe(0);
  });

  it('a signed body of 20,000 strings does not stall a ping sent while it is parsed', async () => {
    const host = await startLoopback();
    cleanup.push(host.close);
    const { child, url } = await startEngine();
    const strings = Array.from({ length: 20_000 }, (_, i) => `s${i}`);
    const bodies = Array.from({ length: 4 }, (_, i) => bounty(host.url, `many-strings-${i}`, { strings }));
    // Warm-up: the connection, and the engine's first parse of a big body (compiling the parser's code paths).
    expect((await deliver(url, 'ping', '')).status).toBe(200);
    expect((await deliver(url, 'bounty', bodies.shift()!)).status).toBe(202);

    /** Pings one after another until `done` settles; their latencies (ms). */
    const pingWhile = async (done: Promise<unknown>) => {
      let sending = true;
      void done.finally(() => (sending = false));
      const latencies: number[] = [];
      while (sending) {
        const started = performance.now();
        expect((await deliver(url, 'ping', '')).status).toBe(200);
        latencies.push(performance.now() - started);
      }
      return latencies;
    };
    // The machine's own noise first (2 cores shared with other work): pings for a second with nothing else sent.
    const baseline = Math.max(...(await pingWhile(work(1000))));
    const started = performance.now();
    const sent = (async () => {
      for (const body of bodies) expect((await deliver(url, 'bounty', body)).status).toBe(202);
    })();
    const latencies = await pingWhile(sent);
    await sent;
    const bigMs = performance.now() - started;
    await host.waitForAnswers(4, 15_000);
    const worst = Math.max(...latencies);
    console.log(
      `20,000 strings (${Math.round(bodies[0]!.length / 1024)} KiB) x3 acknowledged in ${bigMs.toFixed(0)} ms; ` +
        `${latencies.length} pings meanwhile, slowest ${worst.toFixed(1)} ms (slowest with nothing else sent: ${baseline.toFixed(1)} ms)`,
    );
    expect(latencies.length).toBeGreaterThan(0);
    // The issue asks for under 50 ms (each body stalled every request for 13 s before the fix); the bound is generous
    // and on top of what the loaded machine adds anyway, so the test measures the engine, not its neighbours.
    expect(worst).toBeLessThan(250 + baseline);
    child.kill('SIGTERM');
    expect(await child.exited()).toBe(0);
  });
});
