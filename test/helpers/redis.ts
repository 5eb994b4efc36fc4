/**
 * A real redis-server for tests: started on a free loopback port in a temp folder, with no automatic
 * persistence (`--save '' --appendonly no`) unless `args` say otherwise. `stop({ save: true })` + `start()` simulates an outage that
 * loses nothing (SHUTDOWN SAVE writes dump.rdb, the restart on the same port and folder loads it).
 * Also as production runs it: TLS only (`tls`, with certificates from `makeCertificates`), a Sentinel group
 * (`startSentinelGroup`) and a cluster (`startCluster`).
 * Never skips: without the binary the suite fails loudly and says how to install it.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { until } from './poll.js';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` (`rediss://` with `tls`) */
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
  /** Speak TLS only, with this certificate (clients must show one signed by `ca` when `clientCert` is given). */
  tls?: Certificates;
  /** A config file to start from (a Sentinel's: it rewrites it). */
  config?: (port: number, dir: string) => string;
}

/** PEM files made by `makeCertificates`. */
export interface Certificates {
  dir: string;
  /** The CA that signed the server's and the client's certificates. */
  ca: string;
  /** Another CA, which signed nothing here: the wrong one to trust. */
  otherCa: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A CA, a server certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1) and a client certificate, with openssl. */
export function makeCertificates(): Certificates {
  const dir = mkdtempSync(join(tmpdir(), 'pse-tls-'));
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca'])
    openssl('req', '-x509', ...key, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=pse ${ca}`);
  writeFileSync(at('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const who of ['server', 'client']) {
    openssl('req', ...key, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=pse ${who}`);
    const ext = who === 'server' ? ['-extfile', 'server.ext'] : [];
    openssl(
      'x509',
      '-req',
      '-in',
      `${who}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${who}.pem`,
      '-days',
      '2',
      ...ext,
    );
  }
  return {
    dir,
    ca: at('ca.pem'),
    otherCa: at('other-ca.pem'),
    serverCert: at('server.pem'),
    serverKey: at('server.key'),
    clientCert: at('client.pem'),
    clientKey: at('client.key'),
  };
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
function command(port: number, line: string, timeoutMs = 2000, tls?: Certificates): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls
      ? tlsConnect({
          port,
          host: '127.0.0.1',
          ca: readFileSync(tls.ca),
          cert: readFileSync(tls.clientCert),
          key: readFileSync(tls.clientKey),
        })
      : new Socket();
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
    if (tls) socket.once('secureConnect', () => socket.write(`${line}\r\n`));
    else socket.connect(port, '127.0.0.1', () => socket.write(`${line}\r\n`));
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
      return await startRedisOn(await freePort(), options);
    } catch (error) {
      if (attempt >= 3 || !/Address already in use/i.test((error as Error).message)) throw error;
    }
  }
}

async function startRedisOn(port: number, options: RedisOptions): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'pse-redis-'));
  const { tls } = options;
  const ports = tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        tls.serverCert,
        '--tls-key-file',
        tls.serverKey,
        '--tls-ca-cert-file',
        tls.ca,
      ]
    : ['--port', String(port)];
  const config = options.config ? [options.config(port, dir)] : [];
  const ask = (line: string, timeoutMs?: number) => command(port, line, timeoutMs, tls);
  let child: ChildProcess | undefined;
  let stderr = '';

  const start = async () => {
    if (child) return;
    stderr = '';
    const proc = spawn(
      BINARY,
      [
        ...config,
        ...ports,
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
        ...(options.args ?? []),
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
      return (await ask('PING', 500)) === '+PONG';
    }).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}${stderr ? `\n${stderr}` : ''}`);
    });
  };

  const stop = async (how: { save?: boolean } = {}) => {
    const proc = child;
    if (!proc) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    await ask(how.save ? 'SHUTDOWN SAVE' : 'SHUTDOWN NOSAVE').catch(() => proc.kill('SIGKILL'));
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
    url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
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

/** A master, its replica and three Sentinels watching them (quorum 2), with short timeouts: a failover takes seconds. */
export interface SentinelGroup {
  /** `redis+sentinel://127.0.0.1:<s1>,…/mymaster` */
  url: string;
  master: RedisServer;
  replica: RedisServer;
  sentinels: RedisServer[];
  /** The master's port as the Sentinels see it now. */
  masterPort(): number;
  close(): Promise<void>;
}

export async function startSentinelGroup(): Promise<SentinelGroup> {
  const master = await startRedis();
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  const sentinels: RedisServer[] = [];
  for (let i = 0; i < 3; i++) {
    sentinels.push(
      await startRedis({
        args: ['--sentinel'],
        config: (_port, dir) => {
          const file = join(dir, 'sentinel.conf');
          // Down after 1 s; a failover that stalls is tried again after 2 s.
          writeFileSync(
            file,
            [
              `sentinel monitor mymaster 127.0.0.1 ${master.port} 2`,
              'sentinel down-after-milliseconds mymaster 1000',
              'sentinel failover-timeout mymaster 2000',
              '',
            ].join('\n'),
          );
          return file;
        },
      }),
    );
  }
  const cli = (port: number, ...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });
  // Ready when the replica is in sync and every Sentinel knows the others and the replica.
  await until(() => /master_link_status:up/.test(cli(replica.port, 'info', 'replication')), 'the replica in sync', 10_000);
  await until(
    () =>
      sentinels.every(
        (s) =>
          /num-other-sentinels\n2\n/.test(cli(s.port, 'sentinel', 'master', 'mymaster')) &&
          /num-slaves\n1\n/.test(cli(s.port, 'sentinel', 'master', 'mymaster')),
      ),
    'three Sentinels that know each other and the replica',
    { timeoutMs: 15_000, everyMs: 100 },
  );
  return {
    url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/mymaster`,
    master,
    replica,
    sentinels,
    masterPort: () => Number(cli(sentinels[0]!.port, 'sentinel', 'get-master-addr-by-name', 'mymaster').trim().split('\n')[1]),
    async close() {
      await Promise.all([...sentinels, replica, master].map((s) => s.close()));
    },
  };
}

/** A cluster of `masters` masters (no replicas), its slots spread over them by `redis-cli --cluster create`. */
export interface RedisCluster {
  /** `redis://127.0.0.1:<port of the first node>`: any node names the cluster. */
  url: string;
  nodes: RedisServer[];
  close(): Promise<void>;
}

export async function startCluster(masters = 3): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  for (let i = 0; i < masters; i++) nodes.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '2000'] }));
  execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-yes'], { stdio: 'ignore' });
  const cli = (port: number, ...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });
  await until(() => nodes.every((n) => /cluster_state:ok/.test(cli(n.port, 'cluster', 'info'))), 'the cluster to be ok', {
    timeoutMs: 15_000,
    everyMs: 50,
  });
  return { url: nodes[0]!.url, nodes, close: async () => void (await Promise.all(nodes.map((n) => n.close()))) };
}
