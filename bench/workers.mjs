#!/usr/bin/env node
/**
 * Worker scale-out on Redis: throughput with 1, 2 and 4 worker processes on an I/O-bound scan (it waits 50 ms),
 * as a ratio to one worker, all measured in one run. `npm run build` first; `npm run bench:workers`.
 *
 * Each round: the BullMQ queue is paused, `--jobs` signed bounties go through one real web process
 * (`start --queue`), N workers (`worker --queue --concurrency C`) start and report ready, then the queue is resumed
 * and the clock runs until the last answer reaches the loopback receiver. So the figure is the workers' rate alone,
 * not the web's intake nor the workers' start-up. Everything binds 127.0.0.1; redis-server runs in a temp folder.
 *
 * Flags: --jobs 400  --concurrency 4  --scan-ms 50  --workers 1,2,4
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { sign } from '../dist/protocol/signature.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'polyswarm-engine.js');
const SECRET = 'bench-workers-secret';
const QUEUE_NAME = 'polyswarm-bounties';

const { values: flags } = parseArgs({
  options: {
    jobs: { type: 'string', default: '400' },
    concurrency: { type: 'string', default: '4' },
    'scan-ms': { type: 'string', default: '50' },
    workers: { type: 'string', default: '1,2,4' },
  },
});
const JOBS = Number(flags.jobs);
const CONCURRENCY = Number(flags.concurrency);
const SCAN_MS = Number(flags['scan-ms']);
const ROUNDS = flags.workers.split(',').map(Number);
for (const [name, n] of [
  ['--jobs', JOBS],
  ['--concurrency', CONCURRENCY],
  ['--scan-ms', SCAN_MS],
  ...ROUNDS.map((n) => ['--workers', n]),
]) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const children = new Set();
const cleanups = [];

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Spawns a child and resolves once a line matches `pattern` (at most `timeoutMs`). */
function spawnUntil(command, args, pattern, { env = {}, timeoutMs = 20_000 } = {}) {
  const child = spawn(command, args, { env: { ...process.env, NO_COLOR: '1', CI: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal);
    }),
  );
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${args.join(' ')}: no ${pattern} within ${timeoutMs} ms\n${output.slice(-2000)}`)),
      timeoutMs,
    );
    const onData = (chunk) => {
      output += chunk.toString('utf8');
      if (output.length > 65_536) output = output.slice(-65_536);
      const match = output.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited (${how}) before ${pattern}\n${output.slice(-2000)}`));
    });
  });
  return { child, ready, exited };
}

async function stop(proc, signal = 'SIGTERM', timeoutMs = 10_000) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  await proc.exited;
  clearTimeout(timer);
}

async function main() {
  const probe = spawnSync('redis-server', ['--version']);
  if (probe.error || probe.status !== 0) throw new Error('redis-server is not installed: apt-get install redis-server');

  const port = await freePort();
  const redisDir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  cleanups.push(() => rmSync(redisDir, { recursive: true, force: true }));
  const redis = spawnUntil(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir],
    /Ready to accept connections/,
  );
  await redis.ready;
  cleanups.push(() => stop(redis));
  const queueUrl = `redis://127.0.0.1:${port}/0`;

  const project = mkdtempSync(join(tmpdir(), 'bench-workers-project-'));
  cleanups.push(() => rmSync(project, { recursive: true, force: true }));
  mkdirSync(join(project, 'src'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'bench-workers-engine', private: true, type: 'module' }));
  // I/O-bound: the scan only waits, as one that calls a remote service would.
  writeFileSync(
    join(project, 'src', 'scan.mjs'),
    `export async function scan() {\n  await new Promise((resolve) => setTimeout(resolve, ${SCAN_MS}));\n  return { verdict: 'benign' };\n}\n`,
  );

  // The answer receiver: counts answers per round and keeps the time of the last one.
  let answered = 0;
  let lastAnswerAt = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      answered++;
      lastAnswerAt = performance.now();
      res.writeHead(200, { 'content-type': 'application/json' }).end('"OK"');
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        receiver.closeAllConnections();
        receiver.close(resolve);
      }),
  );
  const answerUrl = `http://127.0.0.1:${receiver.address().port}/answer`;

  // Workers log at info, as in production (an `answer` line per bounty): part of what is measured.
  // Loopback artifact host and receiver: `start` and `worker` refuse loopback unless told otherwise.
  const env = { WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'info', POLYSWARM_EGRESS: 'any' };
  const web = spawnUntil(
    process.execPath,
    [BIN, 'start', '--queue', queueUrl, '--port', '0', '--cwd', project],
    /\bready\b.*?url[=":]+"?(https?:\/\/[^\s"]+)/,
    { env },
  );
  const [, webUrl] = await web.ready;
  cleanups.push(() => stop(web));

  const queue = new Queue(QUEUE_NAME, { connection: { host: '127.0.0.1', port } });
  cleanups.push(() => queue.close());

  let nextId = 1;
  const results = [];
  for (const workers of ROUNDS) {
    await queue.pause();
    answered = 0;
    // Through the real web process: signed, verified, validated, stored. Expiration far enough for the slowest round.
    const expiration = new Date(Date.now() + 10 * 60_000).toISOString();
    let sent = 0;
    const refused = [];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (sent < JOBS) {
          sent++;
          const id = nextId++;
          const body = JSON.stringify({
            id,
            artifact_type: 'file',
            artifact_uri: 'http://127.0.0.1:9/unused',
            expiration,
            response_url: answerUrl,
            rules: {},
            phase: 'assertion',
          });
          const response = await fetch(webUrl, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'x-polyswarm-event': 'bounty',
              'x-polyswarm-signature': sign(SECRET, body),
              'x-polyswarm-delivery': `bench-${id}`,
            },
            body,
          });
          await response.arrayBuffer();
          if (response.status !== 202) refused.push(response.status);
        }
      }),
    );
    if (refused.length > 0) throw new Error(`the web process refused ${refused.length} bounties: ${[...new Set(refused)].join(', ')}`);
    const counts = await queue.getJobCounts('waiting', 'paused');
    const queued = (counts.waiting ?? 0) + (counts.paused ?? 0);
    if (queued !== JOBS) throw new Error(`expected ${JOBS} queued jobs, found ${queued}`);

    const procs = Array.from({ length: workers }, () =>
      spawnUntil(
        process.execPath,
        [BIN, 'worker', '--queue', queueUrl, '--concurrency', String(CONCURRENCY), '--cwd', project],
        /\bready\b/,
        { env },
      ),
    );
    await Promise.all(procs.map((p) => p.ready));
    const t0 = performance.now();
    await queue.resume();
    const deadline = Date.now() + 120_000;
    while (answered < JOBS) {
      if (Date.now() > deadline) throw new Error(`round with ${workers} worker(s): only ${answered}/${JOBS} answers after 120 s`);
      await sleep(10);
    }
    const seconds = (lastAnswerAt - t0) / 1000;
    await Promise.all(procs.map((p) => stop(p)));
    if (answered !== JOBS) throw new Error(`round with ${workers} worker(s): ${answered} answers for ${JOBS} bounties`);
    results.push({ workers, concurrency: CONCURRENCY, jobs: JOBS, seconds, perSecond: JOBS / seconds });
    process.stderr.write(`  ${workers} worker(s): ${JOBS} bounties in ${seconds.toFixed(2)} s\n`);
  }

  const base = results[0].perSecond;
  const ideal = (workers) => (workers * CONCURRENCY * 1000) / SCAN_MS;
  console.log(
    `\nWorker scale-out on Redis: scan waits ${SCAN_MS} ms, ${CONCURRENCY} scans at a time per worker, ${JOBS} bounties per round, ${availableParallelism()} CPUs`,
  );
  console.log('workers  bounties/s  ratio to 1 worker  (ideal bounties/s)');
  for (const r of results) {
    console.log(
      `${String(r.workers).padStart(7)}  ${r.perSecond.toFixed(1).padStart(10)}  ${(r.perSecond / base).toFixed(2).padStart(17)}  (${ideal(r.workers).toFixed(0)})`,
    );
  }
  console.log(
    JSON.stringify({
      bench: 'workers',
      scanMs: SCAN_MS,
      concurrency: CONCURRENCY,
      jobs: JOBS,
      results: results.map((r) => ({ ...r, ratio: r.perSecond / base })),
    }),
  );
}

const cleanup = async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const fn of cleanups.splice(0).reverse())
    await Promise.resolve()
      .then(fn)
      .catch(() => {});
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  await main();
  await cleanup();
} catch (error) {
  console.error(`bench:workers failed: ${error.message}`);
  await cleanup();
  process.exitCode = 1;
}
