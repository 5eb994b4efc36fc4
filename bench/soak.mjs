/**
 * `npm run soak` (not in CI): mixed valid and invalid traffic at a steady rate against `polyswarm-engine start` for
 * a few minutes. Prints requests, answers, errors by kind and the engine's memory (after a forced GC) every 10 s;
 * exits 1 on any lost or doubly answered bounty, any answer with the wrong status, or memory that keeps growing.
 *
 *   node bench/soak.mjs [--seconds 180] [--rate 100]
 */
import { join } from 'node:path';
import {
  bountyBody,
  children,
  gcAndMeasure,
  MB,
  removeDir,
  ROOT,
  round,
  signedHeaders,
  sleep,
  startEngine,
  startHost,
  writeProject,
} from './lib.mjs';

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const SECONDS = option('--seconds', 180);
const RATE = option('--rate', 100);
const EXPIRES_MS = 8000;
if (!(SECONDS > 0) || !(RATE > 0)) {
  process.stderr.write('usage: node bench/soak.mjs [--seconds N] [--rate REQUESTS_PER_SECOND]\n');
  process.exit(2);
}

process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Scan time depends on the id, so that some scans overlap and queue: `slow-*` takes 300 ms, others are instant. */
const SCAN = `
export async function scan(bounty) {
  const bytes = await bounty.fetchArtifact();
  if (String(bounty.id).startsWith('slow-')) await new Promise((resolve) => setTimeout(resolve, 300));
  return { verdict: bytes.length > 0 ? 'benign' : 'unknown' };
}
`;

// A small deterministic PRNG (mulberry32), so that two soak runs send the same mix.
let seed = 0x5eed;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const project = writeProject(SCAN);
const host = await startHost();
const engine = await startEngine({
  project,
  args: ['--concurrency', '8'],
  nodeArgs: ['--expose-gc', '--import', join(ROOT, 'bench', 'gc-hook.mjs')],
  ipc: true,
});
process.stderr.write(`soak: ${SECONDS} s at ${RATE} requests/s against ${engine.url} (pid ${engine.pid})\n`);

/** Every accepted bounty: key → expiration (ms). Answers are matched by the key in their response_url path. */
const expected = new Map();
const requests = new Map();
const errors = new Map();
const count = (map, key) => map.set(key, (map.get(key) ?? 0) + 1);
let sequence = 0;
let lastDelivery = null;

/** One request of the mix; `expect` is the status docs/protocol.md §3 gives for it. */
function nextRequest() {
  const r = random();
  const id = `${r < 0.1 ? 'slow' : 'b'}-${sequence++}`;
  const body = () => bountyBody({ id, artifactUri: host.artifactUrl, responseUrl: host.answerUrl(id), expiresInMs: EXPIRES_MS });
  if (r < 0.5) {
    const text = body();
    const delivery = `d-${id}`;
    lastDelivery = { text, delivery };
    return {
      kind: 'bounty',
      expect: 202,
      key: id,
      init: { method: 'POST', headers: signedHeaders('bounty', text, { 'x-polyswarm-delivery': delivery }), body: text },
    };
  }
  if (r < 0.55 && lastDelivery) {
    // The same delivery again: 202, and still one answer.
    const { text, delivery } = lastDelivery;
    return {
      kind: 'duplicate',
      expect: 202,
      init: { method: 'POST', headers: signedHeaders('bounty', text, { 'x-polyswarm-delivery': delivery }), body: text },
    };
  }
  if (r < 0.65) return { kind: 'ping', expect: 200, init: { method: 'POST', headers: signedHeaders('ping', '') } };
  if (r < 0.7) return { kind: 'liveness', expect: 200, init: { method: 'GET' } };
  if (r < 0.78) {
    const text = body();
    return {
      kind: 'bad-signature',
      expect: 401,
      init: { method: 'POST', headers: { ...signedHeaders('bounty', text), 'x-polyswarm-signature': 'f'.repeat(64) }, body: text },
    };
  }
  if (r < 0.83)
    return { kind: 'no-signature', expect: 400, init: { method: 'POST', headers: { 'x-polyswarm-event': 'bounty' }, body: body() } };
  if (r < 0.89) {
    const text = body().slice(0, 40);
    return { kind: 'malformed-json', expect: 400, init: { method: 'POST', headers: signedHeaders('bounty', text), body: text } };
  }
  if (r < 0.94)
    return { kind: 'unsupported-event', expect: 400, init: { method: 'POST', headers: signedHeaders('analyze', '{}'), body: '{}' } };
  if (r < 0.97) {
    const text = body();
    return {
      kind: 'wrong-content-type',
      expect: 415,
      init: { method: 'POST', headers: { ...signedHeaders('bounty', text), 'content-type': 'text/plain' }, body: text },
    };
  }
  const big = Buffer.alloc(2 * 1024 * 1024 + 1, 0x20);
  return { kind: 'too-large', expect: 413, init: { method: 'POST', headers: signedHeaders('bounty', big), body: big } };
}

async function send() {
  const request = nextRequest();
  count(requests, request.kind);
  try {
    const response = await fetch(engine.url, { ...request.init, signal: AbortSignal.timeout(5000) });
    await response.arrayBuffer();
    if (response.status !== request.expect) count(errors, `${request.kind}: ${response.status} (expected ${request.expect})`);
    else if (request.key) expected.set(request.key, Date.now() + EXPIRES_MS);
  } catch (error) {
    // A refused 2 MiB upload may be cut before its 413 is read (see the robustness suite): not an engine error.
    if (request.kind !== 'too-large') count(errors, `${request.kind}: ${error.cause?.code ?? error.message}`);
  }
}

const memory = [];
async function sample(elapsed) {
  const usage = await gcAndMeasure(engine.child);
  memory.push({ t: elapsed, rss: usage.rss, heap: usage.heapUsed });
  const answered = [...expected.keys()].filter((k) => host.answers.has(k)).length;
  const sent = [...requests.values()].reduce((a, b) => a + b, 0);
  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(
    `t=${String(elapsed).padStart(4)}s  requests=${sent}  bounties=${expected.size}  answered=${answered}  errors=${errorCount}  ` +
      `rss=${(usage.rss / MB).toFixed(1)}MB  heap=${(usage.heapUsed / MB).toFixed(1)}MB\n`,
  );
}

const started = Date.now();
const inFlight = new Set();
const interval = 1000 / RATE;
let next = performance.now();
let lastSample = 0;
await sample(0);
while (Date.now() - started < SECONDS * 1000) {
  // A steady rate: requests are started on schedule, whether or not earlier ones have been answered.
  const p = send().finally(() => inFlight.delete(p));
  inFlight.add(p);
  next += interval;
  const elapsed = Math.floor((Date.now() - started) / 1000);
  if (elapsed - lastSample >= 10) {
    lastSample = elapsed;
    await sample(elapsed);
  }
  await sleep(Math.max(0, next - performance.now()));
}
await Promise.all(inFlight);
// Every bounty has until its expiration to be answered; wait for the last one (and a little more for stragglers).
await sleep(EXPIRES_MS + 2000);
await sample(Math.floor((Date.now() - started) / 1000));

const lost = [...expected.keys()].filter((k) => !host.answers.has(k));
const late = [...expected].filter(([k, expiration]) => (host.answers.get(k) ?? []).some((a) => a.at > expiration)).length;
const stop = await engine.stop(15_000);
await host.close();
removeDir(project);

// Unbounded growth: heap after GC in the last third of the run vs the first third (after warm-up).
const third = Math.max(1, Math.floor(memory.length / 3));
const early = memory.slice(1, 1 + third);
const lateWindow = memory.slice(-third);
const avg = (list, key) => list.reduce((a, m) => a + m[key], 0) / list.length;
const heapGrowth = early.length ? avg(lateWindow, 'heap') - avg(early, 'heap') : 0;
const rssGrowth = early.length ? avg(lateWindow, 'rss') - avg(early, 'rss') : 0;

const summary = {
  seconds: SECONDS,
  rate: RATE,
  requests: Object.fromEntries(requests),
  bounties: expected.size,
  answered: expected.size - lost.length,
  lost: lost.length,
  duplicate_answers: host.duplicates,
  answered_after_expiration: late,
  errors: Object.fromEntries(errors),
  memory: memory.map((m) => `t=${m.t}s rss=${(m.rss / MB).toFixed(1)}MB heap=${(m.heap / MB).toFixed(1)}MB`),
  heap_growth_mb: round(heapGrowth / MB, 1),
  rss_growth_mb: round(rssGrowth / MB, 1),
  engine_exit: stop,
};
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);

const failures = [];
if (lost.length > 0) failures.push(`${lost.length} accepted bounties never answered (e.g. ${lost.slice(0, 3).join(', ')})`);
if (host.duplicates > 0) failures.push(`${host.duplicates} bounties answered more than once`);
if (late > 0) failures.push(`${late} answers arrived after their expiration`);
if (errors.size > 0) failures.push(`unexpected answers: ${JSON.stringify(summary.errors)}`);
if (heapGrowth > 10 * MB)
  failures.push(`heap after GC grew ${(heapGrowth / MB).toFixed(1)} MB from the first third of the run to the last`);
if (rssGrowth > 30 * MB) failures.push(`RSS grew ${(rssGrowth / MB).toFixed(1)} MB from the first third of the run to the last`);
if (stop.code !== 0) failures.push(`the engine did not exit 0 on SIGTERM: ${JSON.stringify(stop)}`);
process.stdout.write(failures.length ? `SOAK FAILED:\n  ${failures.join('\n  ')}\n` : 'soak passed\n');
process.exitCode = failures.length ? 1 : 0;
