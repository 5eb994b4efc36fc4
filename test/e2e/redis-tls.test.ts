/**
 * The Redis queue over TLS, as managed services run it: a redis-server that speaks TLS only and asks clients for a
 * certificate, with a CA made here (openssl), and an ACL user that may not run CONFIG (`+@all -@dangerous +info`). The conformance suite passes through `start --queue rediss://…` and a
 * `worker`; a certificate problem stops the process with exit 2 naming the file, never a hang.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { inLanes } from '../helpers/lanes.js';
import { EICAR, SECRET } from '../helpers/loopback.js';
import { type Certificates, makeCertificates, type RedisServer, startRedis } from '../helpers/redis.js';
import { killAll, READY_URL, spawnBin } from '../helpers/spawn.js';

const EICAR_SCAN = `const EICAR = ${JSON.stringify(EICAR)};
export async function scan(bounty) {
  const bytes = await bounty.fetchArtifact();
  return bytes.toString('latin1') === EICAR ? { verdict: 'malicious', metadata: { malware_family: 'EICAR-Test-File' } } : { verdict: 'benign' };
}
`;

let certs: Certificates;
let redis: RedisServer;
let project: string;
/** The queue URL, as the ACL user. */
let queueUrl: string;

beforeAll(async () => {
  certs = makeCertificates();
  redis = await startRedis({ tls: certs, args: ['--user', 'engine', 'on', '>s3cret', '~*', '&*', '+@all', '-@dangerous', '+info'] });
  queueUrl = redis.url.replace('//', '//engine:s3cret@');
  project = mkdtempSync(join(tmpdir(), 'pse-redis-tls-'));
  mkdirSync(join(project, 'src'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'tls-engine', private: true, type: 'module' }));
  writeFileSync(join(project, 'src', 'scan.mjs'), EICAR_SCAN);
});
afterAll(async () => {
  await redis?.close();
  for (const dir of [project, certs?.dir]) if (dir) rmSync(dir, { recursive: true, force: true });
});
afterEach(() => killAll());

describe('Redis over TLS', () => {
  it('`test all` passes through start --queue rediss://… and a worker, with a CA and a client certificate', async () => {
    const tls = ['--queue-ca', certs.ca, '--queue-cert', certs.clientCert, '--queue-key', certs.clientKey];
    const web = spawnBin(['start', '--queue', queueUrl, ...tls, '--port', '0', '--cwd', project], { WEBHOOK_SECRET: SECRET });
    const [, url] = await web.waitFor(READY_URL);
    expect(web.lines.join('\n')).toMatch(/queue="redis rediss:\/\/engine:\*\*\*@127\.0\.0\.1:\d+\/0 \(web only/);
    // CONFIG is forbidden to this user: the engine runs, and says what it could not tell.
    expect(web.lines.join('\n')).toContain('would not say whether it takes snapshots');
    // The worker takes the same files from the environment.
    const env = { POLYSWARM_QUEUE_CA: certs.ca, POLYSWARM_QUEUE_CERT: certs.clientCert, POLYSWARM_QUEUE_KEY: certs.clientKey };
    await spawnBin(['worker', '--queue', queueUrl, '--concurrency', '4', '--cwd', project], env).waitFor(/\bready\b/);
    const result = await runBin(['test', 'all', '--url', url!, '--secret', SECRET, '--expiration', '10s'], { timeout: 90_000 });
    expect(result.stdout).toMatch(/\b\d+ passed, 0 failed\b/);
    expect(result.exitCode).toBe(0);
  }, 120_000);

  it('a certificate problem: exit 2 naming the file and what failed, at once', async () => {
    const client = ['--queue-cert', certs.clientCert, '--queue-key', certs.clientKey];
    const cases: { args: string[]; file: string; says: RegExp }[] = [
      // The server's certificate was not signed by the CA given.
      {
        args: ['--queue-ca', certs.otherCa, ...client],
        file: certs.otherCa,
        says: /handshake .* failed: self[- ]signed certificate in certificate chain/,
      },
      // Redis asks for a client certificate and none is given.
      { args: ['--queue-ca', certs.ca], file: '(none given)', says: /does it require a client certificate\?/ },
      // Files that are not there, or not PEM.
      {
        args: ['--queue-ca', join(certs.dir, 'nope.pem'), ...client],
        file: join(certs.dir, 'nope.pem'),
        says: /cannot be read \(.*ENOENT/,
      },
      {
        args: ['--queue-ca', certs.ca, '--queue-cert', certs.clientKey, '--queue-key', certs.clientKey],
        file: certs.clientKey,
        says: /TLS client certificate/,
      },
    ];
    // Two at a time: each is one process that must stop on its own.
    const tasks = Object.fromEntries(
      cases.flatMap(({ args, file, says }, i) =>
        [['start', '--port', '0'], ['worker']].map((command) => [
          `${i} ${command[0]}`,
          async () => {
            const started = Date.now();
            const env = { WEBHOOK_SECRET: SECRET };
            const run = await runBin([...command, '--queue', queueUrl, ...args, '--cwd', project], { env, timeout: 40_000 });
            return { what: `${command[0]} ${args.join(' ')}:\n${run.stderr}`, run, file, says, ms: Date.now() - started };
          },
        ]),
      ),
    );
    const runs = Object.values(inLanes(2, tasks));
    for (const { what, run, file, says, ms } of await Promise.all(runs)) {
      expect(run.exitCode, what).toBe(2);
      expect(run.stderr, what).toContain('Error: TLS ');
      expect(run.stderr, what).toContain(file);
      expect(run.stderr, what).toMatch(says);
      expect(run.stderr, what).toContain('Hint: Give Redis’s CA with --queue-ca');
      // Bounded: one connection attempt (a generous bound for a loaded machine).
      expect(ms, what).toBeLessThan(20_000);
    }
    // TLS files with a URL that does not use TLS.
    const plain = await runBin(['worker', '--queue', 'redis://127.0.0.1:1', '--queue-ca', certs.ca, '--cwd', project]);
    expect(plain.exitCode).toBe(2);
    expect(plain.stderr).toContain(
      `Error: TLS CA certificate ${certs.ca}: is given, but the queue URL "redis://127.0.0.1:1" does not use TLS (rediss://)`,
    );
  }, 120_000);
});
