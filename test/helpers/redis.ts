/**
 * A real redis-server for tests: started on a free loopback port in a temp folder, with no automatic
 * persistence (`--save '' --appendonly no`) unless `args` say otherwise. `stop({ save: true })` + `start()` simulates an outage that
 * loses nothing (SHUTDOWN SAVE writes dump.rdb, the restart on the same port and folder loads it).
 * Never skips: without the binary the suite fails loudly and says how to install it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from './poll.js';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  dir: string;
  /** Whether the process is up (between start() and stop()). */
  readonly running: boolean;
  /** Freezes the server (SIGSTOP): connections stay open but nothing answers, as with a hung Redis. */
  freeze(): void;
  /** Lets a frozen server go on (SIGCONT). */
  thaw(): void;
  /** Starts it again on the same port and folder (after stop()). */
  start(): Promise<void>;
  /** Stops it; with `save`, writes a snapshot first so a restart gets every key back. */
  stop(options?: { save?: boolean }): Promise<void>;
  /** Kills it (SIGKILL), as a crash or an OOM killer would: only what it persisted survives a start(). */
  kill(): Promise<void>;
  /** Stops it for good and removes its folder. */
  close(): Promise<void>;
}

export interface RedisOptions {
  /** More redis-server arguments, after the defaults (so they win), e.g. `['--appendonly', 'yes']`. */
  args?: string[];
}

const BINARY = process.env.REDIS_SERVER ?? 'redis-server';

/** Throws unless redis-server can be run; the message says how to get it. */
export function assertRedisInstalled(): void {
  const probe = spawnSync(BINARY, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'redis-server is not installed: apt-get install redis-server ' +
        '(the Redis queue tests run against a real server; .ci/run installs it)',
    );
  }
}

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

/** Sends one inline command and resolves with the first reply line (no client library needed here). */
function command(port: number, line: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${line}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve(reply.split('\r\n', 1)[0]!);
      }
    });
    // SHUTDOWN closes the connection without a reply on success.
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(reply.split('\r\n', 1)[0] ?? '');
    });
    socket.connect(port, '127.0.0.1', () => socket.write(`${line}\r\n`));
  });
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  await until(() => check().catch(() => false), what, { timeoutMs, everyMs: 25 });
}

/** Starts a redis-server on 127.0.0.1:<free port>. Close it in afterAll. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  assertRedisInstalled();
  // The free port may be taken between the probe and redis-server's bind (tests run in parallel): try another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRedisOn(await freePort(), options.args ?? []);
    } catch (error) {
      if (attempt >= 3 || !/Address already in use/i.test((error as Error).message)) throw error;
    }
  }
}

async function startRedisOn(port: number, extra: string[]): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'pse-redis-'));
  let child: ChildProcess | undefined;
  let stderr = '';

  const start = async () => {
    if (child) return;
    stderr = '';
    const proc = spawn(
      BINARY,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
        ...extra,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child = proc;
    let exited = false;
    proc.once('exit', () => {
      exited = true;
      if (child === proc) child = undefined;
    });
    await waitFor(`redis-server on port ${port}`, 10_000, async () => {
      if (exited) throw new Error(`redis-server exited: ${stderr.trim()}`);
      return (await command(port, 'PING', 500)) === '+PONG';
    }).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}${stderr ? `\n${stderr}` : ''}`);
    });
  };

  const stop = async (options: { save?: boolean } = {}) => {
    const proc = child;
    if (!proc) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    await command(port, options.save ? 'SHUTDOWN SAVE' : 'SHUTDOWN NOSAVE').catch(() => proc.kill('SIGKILL'));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };

  try {
    await start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get running() {
      return child !== undefined;
    },
    freeze: () => void child?.kill('SIGSTOP'),
    thaw: () => void child?.kill('SIGCONT'),
    start,
    stop,
    async kill() {
      const proc = child;
      if (!proc) return;
      const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGKILL');
      await gone;
    },
    async close() {
      child?.kill('SIGCONT');
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
