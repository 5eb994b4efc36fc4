#!/usr/bin/env node
/**
 * The cost of replicated acceptance: a web process (`start --queue`) on a Redis master with one replica, its 202s
 * with and without waiting for the replica to hold each bounty (WAIT, `--queue-replicas 1` vs `0`). Reports the ack
 * p50/p99 and the bounties accepted per second, and their ratios to the without-WAIT baseline measured in the same
 * run (rounds alternate, and each figure is the median over its rounds). `npm run build` first; `npm run bench:redis`.
 *
 * No worker runs: the figure is the webhook's acceptance alone. Redis is flushed between rounds. Everything binds
 * 127.0.0.1; the two redis-servers run in temp folders.
 *
 * Flags: --bounties 1500  --concurrency 16  --rounds 3
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bountyBody, children, median, quantile, round, signedHeaders, sleep, startEngine, writeProject } from './lib.mjs';

const { values: flags } = parseArgs({
  options: {
    bounties: { type: 'string', default: '1500' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
  },
});
const BOUNTIES = Number(flags.bounties);
const CONCURRENCY = Number(flags.concurrency);
const ROUNDS = Number(flags.rounds);
for (const [name, n] of [
  ['--bounties', BOUNTIES],
  ['--concurrency', CONCURRENCY],
  ['--rounds', ROUNDS],
]) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
}

const cleanups = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A redis-server on a free loopback port; resolves once it answers PING (redis-cli). */
async function redisServer(args = []) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-wait-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args],
    {
      stdio: 'ignore',
    },
  );
  children.add(child);
  cleanups.push(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  for (const end = Date.now() + 10_000; ; await sleep(50)) {
    if ((await cli(port, 'ping').catch(() => '')).trim() === 'PONG') return port;
    if (Date.now() > end) throw new Error(`redis-server on ${port} did not start (is it installed? apt-get install redis-server)`);
  }
}

function cli(port, ...args) {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', ['-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli ${args.join(' ')}: exit ${code}`))));
  });
}

/** One round: BOUNTIES signed bounties, CONCURRENCY at a time, through a fresh web process; the acks' times. */
async function round1(project, queueUrl, replicas) {
  const engine = await startEngine({
    project,
    args: ['--queue', queueUrl, '--queue-replicas', String(replicas), '--max-queued', String(BOUNTIES * 2)],
  });
  try {
    const times = [];
    const statuses = {};
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < BOUNTIES) {
          const id = `${replicas}-${next++}-${Date.now()}`;
          const body = bountyBody({ id, artifactUri: 'http://127.0.0.1:9/artifact', responseUrl: 'http://127.0.0.1:9/answer' });
          const sent = performance.now();
          const response = await fetch(engine.url, { method: 'POST', headers: signedHeaders('bounty', body), body });
          await response.arrayBuffer();
          times.push(performance.now() - sent);
          statuses[response.status] = (statuses[response.status] ?? 0) + 1;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    if (statuses[202] !== BOUNTIES)
      throw new Error(`expected ${BOUNTIES} 202s with --queue-replicas ${replicas}, got ${JSON.stringify(statuses)}`);
    return { p50: quantile(times, 0.5), p99: quantile(times, 0.99), rate: BOUNTIES / seconds };
  } finally {
    await engine.stop();
  }
}

async function main() {
  const master = await redisServer();
  const replica = await redisServer(['--replicaof', '127.0.0.1', String(master)]);
  for (const end = Date.now() + 10_000; !/master_link_status:up/.test(await cli(replica, 'info', 'replication')); await sleep(50)) {
    if (Date.now() > end) throw new Error('the replica did not sync');
  }
  const project = writeProject("export async function scan() { return { verdict: 'benign' }; }\n", { name: 'bench-redis-wait' });
  cleanups.push(() => rmSync(project, { recursive: true, force: true }));
  const queueUrl = `redis://127.0.0.1:${master}/0`;

  const results = { 0: [], 1: [] };
  // A warm-up round (not counted), then the two settings alternately, so drift on a shared machine hits both.
  await round1(project, queueUrl, 0);
  await cli(master, 'flushall');
  for (let r = 0; r < ROUNDS; r++) {
    for (const replicas of [0, 1]) {
      results[replicas].push(await round1(project, queueUrl, replicas));
      await cli(master, 'flushall');
    }
  }
  const summary = (rounds) => ({
    p50: median(rounds.map((x) => x.p50)),
    p99: median(rounds.map((x) => x.p99)),
    rate: median(rounds.map((x) => x.rate)),
  });
  const without = summary(results[0]);
  const withWait = summary(results[1]);
  console.log(
    `\nReplicated acceptance (WAIT for 1 replica, at most 100 ms) on loopback: ${BOUNTIES} bounties per round, ${CONCURRENCY} at a time, ${ROUNDS} rounds each, ${availableParallelism()} CPUs`,
  );
  console.log('setting                 ack p50 ms   ack p99 ms   bounties/s');
  for (const [name, s] of [
    ['without WAIT (baseline)', without],
    ['with WAIT', withWait],
  ]) {
    console.log(
      `${name.padEnd(24)}${String(round(s.p50, 2)).padStart(10)}${String(round(s.p99, 2)).padStart(13)}${String(round(s.rate, 0)).padStart(13)}`,
    );
  }
  console.log(
    `ratios with/without: ack p50 ×${round(withWait.p50 / without.p50)}, ack p99 ×${round(withWait.p99 / without.p99)}, bounties/s ×${round(withWait.rate / without.rate)}`,
  );
}

const timer = setTimeout(() => {
  console.error('bench timed out after 10 minutes');
  process.exitCode = 1;
  for (const child of children) child.kill('SIGKILL');
}, 600_000);
timer.unref();
try {
  await main();
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
  for (const child of children) child.kill('SIGKILL');
}
