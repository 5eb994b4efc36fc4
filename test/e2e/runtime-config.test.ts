/**
 * One configuration for `serve`, `start` and `worker` (runtime/config.ts): every setting comes from the flag, else
 * the environment, else the project's `.env`, else the default, for all three commands alike. The case that started
 * it: a compose setup whose `.env` holds PORT, POLYSWARM_QUEUE_URL and LOG_FORMAT, where the web process used to
 * listen on 3000 with an in-memory queue while the workers read Redis.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { makeProject, READY, SECRET, sendBounty, spawnBin, startLoopback, useCleanup } from './serve-helpers.js';

const { cleanup, track } = useCleanup();

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const SCAN =
  "export async function scan(bounty) { await bounty.fetchArtifact(); return { verdict: 'malicious', metadata: { scanned_by: process.pid } }; }\n";

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.close();
});

describe('the project .env configures start and worker alike', () => {
  it('start listens on .env PORT, logs JSON from .env LOG_FORMAT, and hands bounties to the .env Redis queue; worker answers them', async () => {
    const port = await freePort();
    const project = makeProject(
      { 'src/scan.mjs': SCAN },
      { env: `WEBHOOK_SECRET=${SECRET}\nPORT=${port}\nLOG_FORMAT=json\nPOLYSWARM_QUEUE_URL=${redis.url}/3\n` },
    );
    cleanup.push(project.remove);
    const loopback = await startLoopback();
    cleanup.push(loopback.close);

    const web = track(spawnBin(['start', '--cwd', project.dir]));
    const [, url] = await web.waitFor(READY, 20_000);
    expect(url).toBe(`http://127.0.0.1:${port}/`);
    const starting = web.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'starting');
    // JSON lines, and the queue named in them is Redis (web only: no worker in this process).
    expect(starting).toMatchObject({ level: 'info', secret_from: `WEBHOOK_SECRET in ${project.dir}/.env` });
    expect(String(starting!.queue)).toMatch(/^redis redis:\/\/127\.0\.0\.1:\d+\/3 \(web only/);

    const worker = track(spawnBin(['worker', '--cwd', project.dir, '--concurrency', '1']));
    await worker.waitFor(/"msg":"ready"/, 20_000);
    expect(await sendBounty(url!, loopback.url, 'env-1')).toBe(202);
    const [answer] = await loopback.waitForAnswers(1, 15_000);
    // Scanned by the worker process, not the web process: the queue really is shared through Redis.
    expect(answer!.body).toMatchObject({ verdict: 'malicious', metadata: { scanned_by: worker.proc.pid } });

    web.kill('SIGTERM');
    worker.kill('SIGTERM');
    expect(await web.exited(15_000)).toBe(0);
    expect(await worker.exited(15_000)).toBe(0);
  });

  it('a flag beats the environment, and the environment beats .env', async () => {
    const [fromDotenv, fromEnv, fromFlag] = [await freePort(), await freePort(), await freePort()];
    const project = makeProject({ 'src/scan.mjs': SCAN }, { env: `WEBHOOK_SECRET=${SECRET}\nPORT=${fromDotenv}\nLOG_FORMAT=json\n` });
    cleanup.push(project.remove);

    const byEnv = track(spawnBin(['start', '--cwd', project.dir], { PORT: String(fromEnv), LOG_FORMAT: 'text' }));
    const [, envUrl] = await byEnv.waitFor(READY, 20_000);
    expect(envUrl).toBe(`http://127.0.0.1:${fromEnv}/`);
    // LOG_FORMAT=text from the environment beats LOG_FORMAT=json in .env.
    expect(byEnv.output()).toMatch(/INFO  ready url=/);
    byEnv.kill('SIGTERM');
    expect(await byEnv.exited(15_000)).toBe(0);

    const byFlag = track(
      spawnBin(['start', '--cwd', project.dir, '--port', String(fromFlag), '--log-format', 'json'], {
        PORT: String(fromEnv),
        LOG_FORMAT: 'text',
      }),
    );
    const [, flagUrl] = await byFlag.waitFor(READY, 20_000);
    expect(flagUrl).toBe(`http://127.0.0.1:${fromFlag}/`);
    expect(byFlag.lines.some((l) => l.startsWith('{') && l.includes('"msg":"ready"'))).toBe(true);
    byFlag.kill('SIGTERM');
    expect(await byFlag.exited(15_000)).toBe(0);
  });

  it('serve takes HOST and PORT from .env too', async () => {
    const port = await freePort();
    const project = makeProject({ 'src/scan.mjs': SCAN }, { env: `WEBHOOK_SECRET=${SECRET}\nPORT=${port}\nHOST=127.0.0.1\n` });
    cleanup.push(project.remove);
    const child = track(spawnBin(['serve', '--no-watch', '--cwd', project.dir]));
    const [, url] = await child.waitFor(READY, 20_000);
    expect(url).toBe(`http://127.0.0.1:${port}/`);
    expect(child.output()).toContain(`secret   from WEBHOOK_SECRET in ${project.dir}/.env`);
    child.kill('SIGINT');
    expect(await child.exited(15_000)).toBe(0);
  });
});

describe('bad settings are usage errors that say where they came from', () => {
  it.each([
    ['start', 'PORT=abc\n', /^Error: PORT in (.+)\/\.env \(for --port\): "abc" must be a whole number$/m],
    [
      'start',
      'LOG_LEVEL=loud\n',
      /^Error: LOG_LEVEL in .+\/\.env \(for --log-level\): "loud" must be one of debug, info, warn, error, silent$/m,
    ],
    [
      'worker',
      'POLYSWARM_LOCK_DURATION=200ms\n',
      /^Error: POLYSWARM_LOCK_DURATION in .+\/\.env \(for --lock-duration\): "200ms" must be at least 1s$/m,
    ],
    [
      'serve',
      'POLYSWARM_SHUTDOWN_GRACE=soon\n',
      /^Error: POLYSWARM_SHUTDOWN_GRACE in .+\/\.env \(for --grace\): "soon" is not a duration/m,
    ],
  ])('%s with %s in .env exits 2', async (command, line, message) => {
    const project = makeProject({ 'src/scan.mjs': SCAN }, { env: `WEBHOOK_SECRET=${SECRET}\n${line}` });
    cleanup.push(project.remove);
    const r = await runBin([command, '--cwd', project.dir], { env: { POLYSWARM_QUEUE_URL: redis.url } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^Hint: Fix or unset \w+, or pass --[\w-]+\.$/m);
  });

  it('worker without a queue anywhere exits 2 and says where one can come from', async () => {
    const project = makeProject({ 'src/scan.mjs': SCAN });
    cleanup.push(project.remove);
    const r = await runBin(['worker', '--cwd', project.dir], { env: { POLYSWARM_QUEUE_URL: '' } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Error: worker needs a Redis queue to take bounties from');
    expect(r.stderr).toContain('POLYSWARM_QUEUE_URL (also read from the project’s .env)');
  });

  it('the environment variable beats a broken .env entry for the same setting', async () => {
    const project = makeProject({ 'src/scan.mjs': SCAN }, { env: `WEBHOOK_SECRET=${SECRET}\nPORT=abc\n` });
    cleanup.push(project.remove);
    const port = await freePort();
    const child = track(spawnBin(['start', '--cwd', project.dir], { PORT: String(port) }));
    const [, url] = await child.waitFor(READY, 20_000);
    expect(url).toBe(`http://127.0.0.1:${port}/`);
    child.kill('SIGTERM');
    expect(await child.exited(15_000)).toBe(0);
  });
});
