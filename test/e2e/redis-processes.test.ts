/**
 * Scale-out on Redis with real processes: the built bin as one web process (`start --queue`) and worker processes
 * (`worker --queue`), a real redis-server, signed bounties over loopback HTTP and an answer receiver in the test.
 * Every accepted bounty must be answered exactly once: under load, when a worker is SIGKILLed mid-scan, when
 * Redis stops for a few seconds, and when a worker is stopped with SIGTERM.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runBin } from '../helpers/bin.js';
import { killAll, spawnBin, type Proc } from '../helpers/spawn.js';
import { bountyBody, EICAR, SECRET, startLoopback, until, webhook, type Loopback } from '../helpers/loopback.js';
import { holds, within, work } from '../helpers/poll.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

/** The engine under test: sleeps `metadata.sleep_ms`, says when it starts, and signs its answer with its pid. */
const SCAN_TS = `import type { ScanFunction } from 'polyswarm-engine';

export const scan: ScanFunction = async (bounty, ctx) => {
  const meta = (bounty.metadata ?? {}) as { sleep_ms?: number; crash?: boolean; stray?: boolean };
  ctx.log.info('scan started', { pid: process.pid });
  // A poison bounty: its scan takes the whole worker down, every time.
  if (meta.crash) process.kill(process.pid, 'SIGKILL');
  // Sloppy code: an error thrown in a timer and a rejection nobody handles.
  if (meta.stray) {
    setTimeout(() => { throw new Error('thrown in a timer'); }, 0);
    void Promise.reject(new Error('nobody awaited me'));
  }
  if (meta.sleep_ms) await new Promise((resolve) => setTimeout(resolve, meta.sleep_ms));
  return { verdict: 'benign', metadata: { malware_family: '', scanned_by: process.pid } };
};
`;

/** An engine that really scans, for the conformance suite: EICAR is malicious, anything else benign. */
const EICAR_SCAN = `const EICAR = ${JSON.stringify(EICAR)};
export async function scan(bounty) {
  const bytes = await bounty.fetchArtifact();
  return bytes.toString('latin1') === EICAR
    ? { verdict: 'malicious', metadata: { malware_family: 'EICAR-Test-File' } }
    : { verdict: 'benign' };
}
`;

let redis: RedisServer;
let project: string;
let lb: Loopback | undefined;
const receivers = new Set<string>();

beforeAll(async () => {
  redis = await startRedis();
  project = mkdtempSync(join(tmpdir(), 'pse-redis-project-'));
  mkdirSync(join(project, 'src'));
  mkdirSync(join(project, 'node_modules'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'redis-test-engine', private: true, type: 'module' }, null, 2));
  writeFileSync(join(project, '.env'), `WEBHOOK_SECRET=${SECRET}\n`);
  writeFileSync(join(project, 'src', 'scan.ts'), SCAN_TS);
  // So `import type … from 'polyswarm-engine'` resolves as in a scaffolded project.
  symlinkSync(ROOT, join(project, 'node_modules', 'polyswarm-engine'), 'dir');
});
afterAll(async () => {
  await redis?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});
afterEach(async () => {
  await killAll();
  await lb?.close();
  lb = undefined;
  receivers.clear();
  if (!redis.running) await redis.start();
  await flushRedis();
});

async function flushRedis(): Promise<void> {
  const client = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: true });
  client.on('error', () => {});
  try {
    await client.connect();
    expect(await client.flushall()).toBe('OK');
  } finally {
    client.disconnect();
  }
}

/** `start --queue` (web only) on a free port; resolves once its ready line gave the URL. */
async function startWeb(env: Record<string, string> = {}): Promise<{ proc: Proc; url: string }> {
  const proc = spawnBin(['start', '--queue', redis.url, '--port', '0', '--cwd', project], env);
  const [, url] = await proc.waitFor(/\bready\b.*?url[=":]+"?(https?:\/\/[^\s"]+)/);
  return { proc, url: url! };
}

async function startWorker(concurrency: number, env: Record<string, string> = {}): Promise<Proc> {
  const proc = spawnBin(['worker', '--queue', redis.url, '--concurrency', String(concurrency), '--cwd', project], env);
  await proc.waitFor(/\bready\b/);
  return proc;
}

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

/** Sends a signed bounty whose answer goes to `/answer/<id>`; resolves with the status (0 if no response). */
async function send(url: string, id: number, fields: Record<string, unknown>, delivery?: string): Promise<number> {
  const host = lb!;
  const path = `/answer/${id}`;
  if (!receivers.has(path)) {
    receivers.add(path);
    host.receiver(path);
  }
  const w = webhook(bountyBody({ id, response_url: host.origin + path, ...fields }), { delivery });
  try {
    const response = await fetch(url, { method: 'POST', headers: w.headers, body: w.body, signal: AbortSignal.timeout(10_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/** How many answers each bounty id got. */
function answerCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const a of lb!.answers) {
    const id = a.path.slice('/answer/'.length);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** The pid a scan signed its answer with. */
const scannedBy = (a: { json: Record<string, unknown> }) => (a.json.metadata as { scanned_by?: number }).scanned_by;

describe('Redis scale-out with real processes', () => {
  it('1,000 bounties through one web process and two workers: every one answered exactly once', async () => {
    lb = await startLoopback();
    lb.receiver('/answer');
    // The production lock (10 s), not the tests' 2 s: this is about load, not about taking over a killed worker's jobs.
    const lock = { POLYSWARM_LOCK_DURATION: '10s' };
    const { url } = await startWeb(lock);
    const workers = await Promise.all([startWorker(16, lock), startWorker(16, lock)]);
    const total = 1000;
    const expiration = inMs(50_000);
    const statuses: number[] = [];
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < total) {
          const i = next++;
          const fields = { expiration, metadata: { sleep_ms: 20 } };
          statuses.push(await send(url, 100_000 + i, fields, `load-${i}`));
          // Every 20th bounty is delivered twice (a sender retry): still one job, one answer.
          if (i % 20 === 0) statuses.push(await send(url, 100_000 + i, fields, `load-${i}`));
        }
      }),
    );
    expect(statuses).toHaveLength(total + total / 20);
    expect(statuses.filter((s) => s !== 202)).toEqual([]);
    await lb.waitForAnswers(total, { timeoutMs: 40_000 });
    const elapsed = Date.now() - started;
    // Anything posted twice would arrive right after; give it a moment to show.
    await holds(() => lb!.answers.length === total, `no answer beyond the ${total}`, 500);
    const counts = answerCounts();
    expect(counts.size).toBe(total);
    // Which process posted each copy, and when: a stalled worker (its job's lock lapsed) and a retried POST look different.
    const twice = [...counts.entries()].filter(([, n]) => n !== 1);
    const copies = twice.map(([id]) =>
      lb!.answers.filter((a) => a.path === `/answer/${id}`).map((a) => ({ id, by: scannedBy(a), at: a.at - started })),
    );
    expect(twice, JSON.stringify(copies)).toEqual([]);
    expect(lb.answers).toHaveLength(total);
    // Both workers took a share.
    for (const w of workers) expect(lb.answers.filter((a) => scannedBy(a) === w.pid).length).toBeGreaterThan(total / 10);
    console.log(`1,000 bounties, 1 web + 2 workers (concurrency 16, 20 ms scans): all answered exactly once in ${elapsed} ms`);
  }, 60_000);

  it('the conformance suite (`test all`) passes against one web process and one worker on Redis', async () => {
    const eicarProject = mkdtempSync(join(tmpdir(), 'pse-redis-eicar-'));
    try {
      mkdirSync(join(eicarProject, 'src'));
      writeFileSync(join(eicarProject, 'src', 'scan.mjs'), EICAR_SCAN);
      const web = spawnBin(['start', '--queue', redis.url, '--port', '0', '--cwd', eicarProject], { WEBHOOK_SECRET: SECRET });
      const [, url] = await web.waitFor(/\bready\b.*?url[=":]+"?(https?:\/\/[^\s"]+)/);
      await spawnBin(['worker', '--queue', redis.url, '--concurrency', '4', '--cwd', eicarProject]).waitFor(/\bready\b/);
      const result = await runBin(['test', 'all', '--url', url!, '--secret', SECRET, '--expiration', '10s'], { timeout: 60_000 });
      expect(result.stdout).toMatch(/\b\d+ passed, 0 failed\b/);
      expect(result.exitCode).toBe(0);
    } finally {
      rmSync(eicarProject, { recursive: true, force: true });
    }
  }, 60_000);

  it('a worker SIGKILLed mid-scan: another worker picks the bounty up and answers it once, before the expiration', async () => {
    lb = await startLoopback();
    const { url } = await startWeb();
    const workers = await Promise.all([startWorker(2), startWorker(2)]);
    const expiration = Date.now() + 15_000;
    expect(await send(url, 4242, { expiration: new Date(expiration).toISOString(), metadata: { sleep_ms: 1500 } }, 'kill-me')).toBe(202);
    // Whichever worker took it says so; kill that one in the middle of its 1.5 s scan.
    const first = await Promise.any(workers.map((w) => w.waitFor(/scan started.*bounty=4242/).then(() => w)));
    const survivor = workers.find((w) => w !== first)!;
    const killedAt = Date.now();
    await first.kill('SIGKILL');
    const [answer] = await lb.waitForAnswers(1, { timeoutMs: 12_000 });
    expect(answer!.at).toBeLessThan(expiration);
    expect(scannedBy(answer!)).toBe(survivor.pid);
    await survivor.waitFor(/scan started.*bounty=4242/);
    // The re-run waited for the dead worker's lock (2 s here) to expire, then scanned again.
    expect(answer!.at - killedAt).toBeGreaterThan(1500);
    await holds(() => lb!.attempts.length === 1, 'one answer attempt, no second', 500);
    expect(lb.attempts).toHaveLength(1);
    console.log(`worker killed mid-scan: answered by the other worker ${answer!.at - killedAt} ms after the kill (lock 2 s)`);
  }, 30_000);

  it('a bounty whose scan kills every worker that takes it: given up after three runs, still answered unknown', async () => {
    lb = await startLoopback();
    const { url } = await startWeb();
    const fast = { POLYSWARM_LOCK_DURATION: '1s' };
    const workers = await Promise.all([1, 2, 3, 4].map(() => startWorker(1, fast)));
    const expiration = Date.now() + 20_000;
    expect(await send(url, 666, { expiration: new Date(expiration).toISOString(), metadata: { crash: true } })).toBe(202);
    const [answer] = await lb.waitForAnswers(1, { timeoutMs: 18_000 });
    expect(answer!.at).toBeLessThan(expiration);
    expect(answer!.json).toMatchObject({
      verdict: 'unknown',
      bid: 0,
      metadata: { comments: ['ERROR:gave up on this bounty: job stalled more than allowable limit'] },
    });
    // Three workers died on it; the fourth gave up on it and answered.
    const codes = await Promise.all(
      workers.map(
        async (w) =>
          (await within(
            w.exited.then(() => 'exited'),
            200,
          )) ?? 'running',
      ),
    );
    expect(codes.filter((c) => c === 'running')).toHaveLength(1);
    await holds(() => lb!.attempts.length === 1, 'one answer attempt, no second', 300);
    expect(lb.attempts).toHaveLength(1);
  }, 30_000);

  it('Redis stopped for a few seconds under load: 503 while down, nothing accepted is lost, processing resumes', async () => {
    lb = await startLoopback();
    const { url, proc: web } = await startWeb();
    const workers = await Promise.all([startWorker(8), startWorker(8)]);
    // Each bounty gets 30 s from its own sending: on a loaded machine this test can outlast one shared expiration, and a
    // bounty that expires before its turn rightly gets no answer.
    const accepted = new Set<number>();
    const refused = new Set<number>();
    const statusesWhileDown: number[] = [];
    let phase: 'up' | 'down' | 'back' = 'up';
    // biome-ignore lint/style/useConst: assigned once, inside the outage below, and read after it.
    let healthWhileDown: { status: number; body: unknown } | undefined;
    let id = 1;
    let sending = true;
    // The latest expiration sent: every accepted bounty is answered by then at the latest (the watchdog's unknown).
    let lastExpiry = 0;
    const sendOutage = (mine: number) => {
      lastExpiry = Date.now() + 30_000;
      return send(url, mine, { expiration: inMs(30_000), metadata: { sleep_ms: 30 } }, `outage-${mine}`);
    };
    const senders = Array.from({ length: 4 }, async () => {
      while (sending) {
        const mine = id++;
        const status = await sendOutage(mine);
        if (status === 202) accepted.add(mine);
        else refused.add(mine);
        if (phase === 'down') statusesWhileDown.push(status);
        // A sender's pace, not a wait of the test.
        await work(20);
      }
    });
    await until(() => accepted.size >= 100, '100 bounties accepted before the outage', 15_000);
    // SHUTDOWN SAVE: the outage loses nothing Redis had stored (as with persistence in production).
    await redis.stop({ save: true });
    phase = 'down';
    // Down until the web process has refused a good number of bounties (what is asserted below), and says so on GET /.
    await until(() => web.lines.some((l) => /ERROR\s+redis unavailable/.test(l)), 'the web to log that Redis is down', 10_000);
    const health = await fetch(url);
    healthWhileDown = { status: health.status, body: await health.json() };
    await until(() => statusesWhileDown.filter((s) => s === 503).length > 10, 'more than 10 bounties refused while Redis is down', 10_000);
    await redis.start();
    phase = 'back';
    await until(() => statusesWhileDown.length > 0 && accepted.size >= 250, 'bounties accepted again after the outage', 20_000);
    sending = false;
    await Promise.all(senders);

    expect(statusesWhileDown.filter((s) => s === 503).length).toBeGreaterThan(10);
    // GET / is for anyone: it says the queue is down, not where it is or what Redis said.
    expect(healthWhileDown).toEqual({ status: 503, body: { status: 'UNAVAILABLE', detail: 'the shared queue is unreachable' } });
    expect(web.lines.some((l) => /ERROR\s+redis unavailable/.test(l))).toBe(true);
    expect(web.lines.some((l) => /INFO\s+redis reconnected/.test(l))).toBe(true);
    // The sender retries what was refused (as PolySwarm would): those are stored now too.
    const retries = [...refused];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let mine = retries.shift(); mine !== undefined; mine = retries.shift()) {
          if ((await sendOutage(mine)) === 202) accepted.add(mine);
        }
      }),
    );
    expect(accepted.size).toBe(id - 1);
    // Until the last expiration (an answer may rightly come as late as its scan deadline); a bounty still unanswered
    // then is named, with every line the processes wrote about it.
    await lb.waitForAnswers(accepted.size, { timeoutMs: Math.max(1000, lastExpiry + 1000 - Date.now()) }).catch((error: Error) => {
      const counts = answerCounts();
      const missing = [...accepted].filter((mine) => !counts.get(String(mine)));
      const about = (line: string) => missing.some((mine) => new RegExp(`bounty=${mine}\\b`).test(line));
      const lines = [web, ...workers].flatMap((p, i) => p.lines.filter(about).map((l) => `${i === 0 ? 'web' : `worker ${i}`}: ${l}`));
      throw new Error(`${error.message}; unanswered: ${missing.join(', ')}\n${lines.join('\n')}`);
    });
    await holds(() => lb!.answers.length === accepted.size, `no answer beyond the ${accepted.size}`, 500);
    const counts = answerCounts();
    expect([...accepted].filter((mine) => counts.get(String(mine)) !== 1)).toEqual([]);
    expect(lb.answers).toHaveLength(accepted.size);
    for (const w of workers) expect(w.lines.some((l) => /INFO\s+redis reconnected/.test(l))).toBe(true);
    console.log(
      `Redis outage: ${accepted.size} bounties, ${statusesWhileDown.filter((s) => s === 503).length} answered 503 while down, all answered exactly once`,
    );
  }, 90_000);

  it('worker SIGTERM: finishes a running scan and exits 0; past the grace period hands it back to another worker', async () => {
    lb = await startLoopback();
    const { url } = await startWeb();
    // Finish: a 700 ms scan, SIGTERM in the middle, the answer still goes out and the worker exits 0.
    const patient = await startWorker(2);
    expect(await send(url, 1, { expiration: inMs(15_000), metadata: { sleep_ms: 700 } })).toBe(202);
    await patient.waitFor(/scan started.*bounty=1\b/);
    expect(await patient.kill('SIGTERM')).toBe(0);
    expect(lb.answers.map((a) => [a.path, scannedBy(a)])).toEqual([['/answer/1', patient.pid]]);
    expect(patient.lines.some((l) => /INFO\s+stopped/.test(l))).toBe(true);

    // Hand back: an 8 s scan and a 300 ms grace; the job goes back to the queue, another worker answers it. SIGTERM
    // as soon as the scan starts, and the successor only then: a loaded machine, slow to start a process, must not
    // let the scan end first.
    const hasty = await startWorker(2, { POLYSWARM_SHUTDOWN_GRACE: '300ms' });
    expect(await send(url, 2, { expiration: inMs(30_000), metadata: { sleep_ms: 8000 } })).toBe(202);
    await hasty.waitFor(/scan started.*bounty=2\b/);
    const exited = hasty.kill('SIGTERM');
    await hasty.waitFor(/job handed back to the queue.*bounty=2\b/, 15_000);
    expect(await exited).toBe(0);
    const other = await startWorker(2);
    // Handed back after the grace, not when the 8 s scan would have ended: the stopped worker never answered it.
    // (Its aborted scan's SKIPPED:SHUTDOWN answer was refused: "handed back to the queue".)
    const hastyAnswers = hasty.lines.filter((l) => /answer bounty=2\b/.test(l));
    expect(hastyAnswers.filter((l) => !/delivery="handed back to the queue at shutdown/.test(l))).toEqual([]);
    await other.waitFor(/scan started.*bounty=2\b/, 15_000);
    await lb.waitForAnswers(2, { timeoutMs: 20_000 });
    await holds(() => lb!.answers.length === 2, 'no third answer', 300);
    expect(lb.answers.map((a) => [a.path, scannedBy(a)])).toEqual([
      ['/answer/1', patient.pid],
      ['/answer/2', other.pid],
    ]);
  }, 60_000);

  it('a worker survives errors that escape the scan code (a throw in a timer, an unhandled rejection)', async () => {
    lb = await startLoopback();
    const { url } = await startWeb();
    const w = await startWorker(1);
    expect(await send(url, 21, { expiration: inMs(10_000), metadata: { stray: true } })).toBe(202);
    await w.waitFor(/uncaught error in scan code; the process keeps running.*thrown in a timer/);
    await w.waitFor(/uncaught error in scan code; the process keeps running.*nobody awaited me/);
    expect(await send(url, 22, { expiration: inMs(10_000) })).toBe(202);
    await lb.waitForAnswers(2, { timeoutMs: 8000 });
    expect(lb.answers.map((a) => scannedBy(a))).toEqual([w.pid, w.pid]);
  });

  it('serve --queue: the development server stores bounties in Redis and scans them itself', async () => {
    lb = await startLoopback();
    const proc = spawnBin(['serve', '--queue', redis.url, '--port', '0', '--no-watch', '--cwd', project]);
    const [, url] = await proc.waitFor(/\bready\b.*?url[=":]+"?(https?:\/\/[^\s"]+)/);
    expect(proc.lines.join('\n')).toMatch(
      /queue\s+redis redis:\/\/127\.0\.0\.1:\d+\/0 \(scanning in this process too; queue redis-test-engine\)/,
    );
    expect(await send(url!, 7, { expiration: inMs(10_000) })).toBe(202);
    const [answer] = await lb.waitForAnswers(1, { timeoutMs: 8000 });
    expect(scannedBy(answer!)).toBe(proc.pid);
  });

  it('start --queue --with-worker: the web process also takes jobs from Redis', async () => {
    lb = await startLoopback();
    const proc = spawnBin(['start', '--queue', redis.url, '--with-worker', '--concurrency', '2', '--port', '0', '--cwd', project]);
    const [, url] = await proc.waitFor(/\bready\b.*?url[=":]+"?(https?:\/\/[^\s"]+)/);
    expect(proc.lines.join('\n')).toMatch(
      /queue="redis redis:\/\/127\.0\.0\.1:\d+\/0 \(scanning in this process too; queue redis-test-engine\)"/,
    );
    expect(await send(url!, 8, { expiration: inMs(10_000) })).toBe(202);
    const [answer] = await lb.waitForAnswers(1, { timeoutMs: 8000 });
    expect(scannedBy(answer!)).toBe(proc.pid);
    // SIGTERM: it finishes and exits 0 like any worker.
    expect(await proc.kill('SIGTERM')).toBe(0);
  });

  it('start --queue while Redis is down: 503 to bounties and on GET /, said in the log, never a 202; then it comes up', async () => {
    lb = await startLoopback();
    await redis.stop({ save: true });
    const proc = spawnBin(['start', '--queue', `${redis.url}/0`, '--port', '0', '--cwd', project]);
    const [, url] = await proc.waitFor(/\bready\b.*?url[=":]+"?(https?:\/\/[^\s"]+)/);
    await proc.waitFor(new RegExp(`ERROR\\s+redis unavailable .*redis://127\\.0\\.0\\.1:${redis.port}/0`));
    const health = await fetch(url!);
    expect(health.status).toBe(503);
    // No URL and no Redis error text for an unauthenticated caller; the log above has both.
    const body = await health.text();
    expect(JSON.parse(body)).toEqual({ status: 'UNAVAILABLE', detail: 'the shared queue is unreachable' });
    expect(body).not.toContain(String(redis.port));
    expect(await send(url!, 1, { expiration: inMs(15_000) })).toBe(503);
    await redis.start();
    await proc.waitFor(/INFO\s+redis reconnected/, 10_000);
    expect((await fetch(url!)).status).toBe(200);
    expect(await send(url!, 1, { expiration: inMs(15_000) })).toBe(202);
    await startWorker(1);
    await lb.waitForAnswers(1, { timeoutMs: 8000 });
  });

  it('usage errors: exit 2 with a precise message', async () => {
    const noQueue = await runBin(['worker', '--cwd', project], { env: { POLYSWARM_QUEUE_URL: undefined } });
    expect(noQueue.exitCode).toBe(2);
    expect(noQueue.stderr).toContain('Error: worker needs a Redis queue to take bounties from');
    expect(noQueue.stderr).toContain('Hint: Pass --queue redis://host:port[/db], or set POLYSWARM_QUEUE_URL');

    const badUrl = await runBin(['worker', '--queue', 'http://127.0.0.1:6379', '--cwd', project]);
    expect(badUrl.exitCode).toBe(2);
    expect(badUrl.stderr).toContain('Error: Queue URL "http://127.0.0.1:6379": http:// is not supported, only redis:// and rediss://');

    const envUrl = await runBin(['worker', '--cwd', project], { env: { POLYSWARM_QUEUE_URL: 'localhost:6379' } });
    expect(envUrl.exitCode).toBe(2);
    expect(envUrl.stderr).toContain('Error: Queue URL "localhost:6379" has no scheme');
    expect(envUrl.stderr).toContain('Hint: Did you mean redis://localhost:6379?');

    const badLock = await runBin(['worker', '--queue', redis.url, '--cwd', project], { env: { POLYSWARM_LOCK_DURATION: '100ms' } });
    expect(badLock.exitCode).toBe(2);
    expect(badLock.stderr).toContain('Error: $POLYSWARM_LOCK_DURATION (for --lock-duration): "100ms" must be at least 1s');

    const broken = mkdtempSync(join(tmpdir(), 'pse-redis-broken-'));
    try {
      mkdirSync(join(broken, 'src'));
      writeFileSync(join(broken, 'src', 'scan.ts'), 'export const notScan = 1;\n');
      const noScan = await runBin(['worker', '--queue', redis.url, '--cwd', broken]);
      expect(noScan.exitCode).toBe(2);
      expect(noScan.stderr).toContain('Error: src/scan.ts: it does not export a `scan` function (it exports: notScan (number))');
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }

    const withWorkerAlone = await runBin(['start', '--with-worker', '--port', '0', '--cwd', project], { env: { WEBHOOK_SECRET: SECRET } });
    expect(withWorkerAlone.exitCode).toBe(2);
    expect(withWorkerAlone.stderr).toContain('Error: --with-worker needs --queue');
  });
});
