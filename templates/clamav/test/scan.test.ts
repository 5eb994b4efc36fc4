/**
 * Tests for the ClamAV engine. They run the real `clamscan` (Debian/Ubuntu: `apt-get install clamav`), and a
 * real `clamd` on a unix socket in a temporary folder (`apt-get install clamav-daemon`), against a
 * one-signature database written here (an MD5 hash signature of the EICAR file), so no signatures are
 * downloaded. Without clamscan they fail: install it, or set CLAMSCAN_PATH. Without clamd the clamd tests
 * are skipped, saying so: install it, or set CLAMD_PATH.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, testEngine, type Bounty, type ScanContext } from 'polyswarm-engine';
import { clamavProblem, clamdAddressFromConf, parseClamdReply, parseVersion, scanFile } from '../src/clamav.js';
import { computeBid, scan } from '../src/scan.js';

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
const tmp = mkdtempSync(join(tmpdir(), 'clamav-engine-test-'));
const database = join(tmp, 'eicar.hdb');
let files = 0;

beforeAll(async () => {
  const clamscan = process.env.CLAMSCAN_PATH || 'clamscan';
  const probe = await execa(clamscan, ['--version'], { reject: false });
  if (probe.failed) {
    throw new Error(`${clamscan} cannot be run (${probe.shortMessage}). Install ClamAV (apt-get install clamav) or set CLAMSCAN_PATH.`);
  }
  // A ClamAV hash signature: md5:size:name. ClamAV reports it as "Eicar-Test-Signature.UNOFFICIAL".
  const md5 = createHash('md5').update(EICAR).digest('hex');
  writeFileSync(database, `${md5}:${Buffer.byteLength(EICAR)}:Eicar-Test-Signature\n`);
  process.env.CLAMAV_DATABASE = database;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A bounty whose artifact is `content`, written to a file for `artifactPath()`. */
function fakeBounty(content: string, overrides: Partial<Bounty> = {}): Bounty {
  const path = join(tmp, `artifact-${++files}`);
  writeFileSync(path, content);
  return {
    id: String(files),
    artifact_type: 'file',
    artifact_uri: 'http://127.0.0.1:9/artifact',
    expiration: new Date(Date.now() + 30_000),
    expiration_was_naive: false,
    response_url: 'http://127.0.0.1:9/answer',
    rules: { min_allowed_bid: 62_500_000_000_000_000n, max_allowed_bid: 1_000_000_000_000_000_000n },
    sha256: null,
    mimetype: 'text/plain',
    phase: 'assertion',
    answer_kind: 'assertion',
    metadata: null,
    duration: null,
    tasked_at: null,
    version: 'v1',
    fetchArtifact: async () => Buffer.from(content),
    artifactPath: async () => path,
    ...overrides,
  };
}

const quiet: ScanContext['log'] = {
  level: 'silent',
  format: 'text',
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => quiet,
};
const context = (signal = AbortSignal.timeout(10_000)): ScanContext => ({ signal, deadline: new Date(Date.now() + 10_000), log: quiet });

describe('scan with clamscan', () => {
  it('flags EICAR as malicious, named by its ClamAV signature, with ClamAV versions', async () => {
    const result = await scan(fakeBounty(EICAR), context());
    expect(result.verdict).toBe('malicious');
    expect(result.metadata?.malware_family).toBe('Eicar-Test-Signature.UNOFFICIAL');
    const version = await execa(process.env.CLAMSCAN_PATH || 'clamscan', ['--version']);
    expect(result.metadata?.scanner?.vendor_version).toBe(parseVersion(version.stdout).engine);
    expect(result.metadata?.scanner?.vendor_version).toMatch(/^\d+\.\d+/);
  });

  it('finds harmless bytes benign', async () => {
    const result = await scan(fakeBounty('just a harmless text file\n'), context());
    expect(result.verdict).toBe('benign');
    expect(result.metadata?.malware_family).toBe('');
  });

  it('answers unknown with the ClamAV error when the database is missing', async () => {
    process.env.CLAMAV_DATABASE = join(tmp, 'no-such-database.hdb');
    try {
      const result = await scan(fakeBounty(EICAR), context());
      expect(result.verdict).toBe('unknown');
      expect(String(result.metadata?.comments)).toMatch(/^ERROR:.+/);
      // The answer itself says what to do.
      expect(String(result.metadata?.comments)).toContain('freshclam');
    } finally {
      process.env.CLAMAV_DATABASE = database;
    }
  });

  it('answers unknown when the deadline has passed', async () => {
    const result = await scan(fakeBounty(EICAR), context(AbortSignal.abort()));
    expect(result.verdict).toBe('unknown');
    expect(result.metadata?.comments).toEqual(['SKIPPED:TIMEOUT']);
  });

  it('answers unknown for URL artifacts', async () => {
    const result = await scan(fakeBounty('', { artifact_type: 'url' }), context());
    expect(result.verdict).toBe('unknown');
  });

  it('reads the engine and daily signature versions from clamscan --version', () => {
    expect(parseVersion('ClamAV 1.0.7/27100/Tue Nov 28 09:25:46 2023')).toEqual({ engine: '1.0.7', signatures: '27100' });
    expect(parseVersion('ClamAV 1.4.6')).toEqual({ engine: '1.4.6', signatures: null });
  });
});

describe('the engine over HTTP', () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it('answers a signed EICAR bounty with a malicious assertion', async () => {
    const secret = 'a-test-secret';
    const engine = createEngine({ secret, module: { scan, computeBid } });
    const server = await engine.listen({ port: 0 });
    stop = async () => {
      await engine.close({ graceMs: 1000 });
      await server.close();
    };
    const report = await testEngine({ url: server.url, secret, bounty: { artifact: 'eicar', expirationMs: 10_000 } });
    const failures = report.cases.filter((c) => !c.ok).map((c) => `${c.name}: ${c.messages.join('; ')}`);
    expect(failures).toEqual([]);
    expect(report.ok).toBe(true);
  }, 20_000);
});

/** clamd: CLAMD_PATH, else `clamd` on PATH or in /usr/sbin (where Debian puts it, often off a user's PATH). */
function findClamd(): string | null {
  if (process.env.CLAMD_PATH) return process.env.CLAMD_PATH;
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    if (dir && existsSync(join(dir, 'clamd'))) return join(dir, 'clamd');
  }
  return null;
}
const clamd = findClamd();
/** 300 KiB: several 64 KiB INSTREAM chunks. */
const BIG = 'polyswarm '.repeat(30 * 1024);
if (!clamd) console.warn('clamd not found: the clamd tests are skipped (apt-get install clamav-daemon, or set CLAMD_PATH)');

describe.skipIf(!clamd)('scan through clamd (a real daemon on a unix socket)', () => {
  let dir: string;
  let socket: string;
  let daemon: ResultPromise | undefined;
  const env = () => ({ CLAMD_SOCKET: socket }) as NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'clamd-test-'));
    socket = join(dir, 'clamd.sock');
    mkdirSync(join(dir, 'db'));
    const md5 = createHash('md5').update(EICAR).digest('hex');
    const bigMd5 = createHash('md5').update(BIG).digest('hex');
    writeFileSync(
      join(dir, 'db', 'eicar.hdb'),
      `${md5}:${Buffer.byteLength(EICAR)}:Eicar-Test-Signature\n${bigMd5}:${BIG.length}:Big-Test-Signature\n`,
    );
    const conf = join(dir, 'clamd.conf');
    writeFileSync(conf, `LocalSocket ${socket}\nDatabaseDirectory ${join(dir, 'db')}\nForeground yes\nLogFile ${join(dir, 'clamd.log')}\n`);
    daemon = execa(clamd!, [`--config-file=${conf}`], { reject: false, stdin: 'ignore' });
    // clamd creates its socket once the signatures are loaded (well under a second with one signature).
    for (let i = 0; i < 300 && !readdirSync(dir).includes('clamd.sock'); i++) {
      if (daemon.exitCode !== null && daemon.exitCode !== undefined) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!existsSync(socket)) throw new Error(`clamd did not start: ${(await daemon).all ?? ''}`);
  }, 40_000);
  afterAll(async () => {
    daemon?.kill();
    await daemon;
    rmSync(dir, { recursive: true, force: true });
  });

  const file = (content: string) => {
    const path = join(dir, `artifact-${++files}`);
    writeFileSync(path, content);
    return path;
  };

  it('flags EICAR, names the signature, and finds harmless bytes clean', async () => {
    expect(await scanFile(file(EICAR), AbortSignal.timeout(10_000), env())).toEqual({
      status: 'found',
      signature: 'Eicar-Test-Signature.UNOFFICIAL',
    });
    expect(await scanFile(file('harmless\n'), AbortSignal.timeout(10_000), env())).toEqual({ status: 'clean' });
    expect(await clamavProblem(env())).toBeNull();
  });

  it('streams a file larger than one chunk (its signature matches only the whole file)', async () => {
    expect(await scanFile(file(BIG), AbortSignal.timeout(10_000), env())).toEqual({
      status: 'found',
      signature: 'Big-Test-Signature.UNOFFICIAL',
    });
  });

  it('says what to do when clamd is not there', async () => {
    const missing = { CLAMD_SOCKET: join(dir, 'no-such.sock') } as NodeJS.ProcessEnv;
    const outcome = await scanFile(file(EICAR), AbortSignal.timeout(10_000), missing);
    expect(outcome).toMatchObject({ status: 'error', message: expect.stringMatching(/no-such\.sock.*is clamd running/) });
  });

  it('answers a signed EICAR bounty over HTTP with a malicious assertion', async () => {
    const saved = { ...process.env };
    process.env.CLAMD_SOCKET = socket;
    delete process.env.CLAMAV_DATABASE;
    const secret = 'a-test-secret';
    const engine = createEngine({ secret, module: { scan, computeBid } });
    const server = await engine.listen({ port: 0 });
    try {
      const report = await testEngine({ url: server.url, secret, bounty: { artifact: 'eicar', expirationMs: 10_000 } });
      expect(report.cases.filter((c) => !c.ok).map((c) => `${c.name}: ${c.messages.join('; ')}`)).toEqual([]);
      expect(report.ok).toBe(true);
    } finally {
      await engine.close({ graceMs: 1000 });
      await server.close();
      process.env = saved;
    }
  }, 20_000);
});

describe('clamd settings and replies', () => {
  it('reads the socket from a clamd.conf', () => {
    expect(clamdAddressFromConf('# x\nLocalSocket /run/clamav/clamd.ctl\nTCPSocket 3310\n')).toEqual({ path: '/run/clamav/clamd.ctl' });
    expect(clamdAddressFromConf('TCPSocket 3310\nTCPAddr 10.0.0.2\n')).toEqual({ host: '10.0.0.2', port: 3310 });
    expect(clamdAddressFromConf('# nothing\n')).toBeNull();
  });

  it('reads clamd INSTREAM replies', () => {
    expect(parseClamdReply('stream: OK')).toEqual({ status: 'clean' });
    expect(parseClamdReply('stream: Win.Test.EICAR_HDB-1 FOUND')).toEqual({ status: 'found', signature: 'Win.Test.EICAR_HDB-1' });
    expect(parseClamdReply('INSTREAM size limit exceeded. ERROR')).toEqual({
      status: 'error',
      message: 'clamd: INSTREAM size limit exceeded.',
    });
  });
});
