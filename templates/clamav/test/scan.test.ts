/**
 * Tests for the ClamAV engine. They run the real `clamscan` (Debian/Ubuntu: `apt-get install clamav`)
 * against a one-signature database written here (an MD5 hash signature of the EICAR file), so no
 * signatures are downloaded. Without clamscan they fail: install it, or set CLAMSCAN_PATH.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, testEngine, type Bounty, type ScanContext } from 'polyswarm-engine';
import { parseVersion } from '../src/clamav.js';
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
