/**
 * Tests for src/scan.ts: unit tests call `scan` directly with a fake bounty; the last test runs the real
 * engine on a loopback port and sends it a signed EICAR bounty, exactly as PolySwarm would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, testEngine, type Bounty, type ScanContext } from 'polyswarm-engine';
import { computeBid, scan } from '../src/scan.js';

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

/** A bounty whose artifact is `content`, with PolySwarm's usual bid rules (in wei). */
function fakeBounty(content: string | Buffer, overrides: Partial<Bounty> = {}): Bounty {
  const bytes = Buffer.from(content);
  return {
    id: '1',
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
    fetchArtifact: async () => bytes,
    artifactPath: async () => {
      throw new Error('this scanner reads bytes, not files');
    },
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
const context = (): ScanContext => ({ signal: AbortSignal.timeout(10_000), deadline: new Date(Date.now() + 10_000), log: quiet });

describe('scan', () => {
  it('flags the EICAR test file as malicious', async () => {
    const result = await scan(fakeBounty(EICAR), context());
    expect(result.verdict).toBe('malicious');
    expect(result.metadata?.malware_family).toBe('EICAR-Test-File');
  });

  it('finds other bytes benign', async () => {
    const result = await scan(fakeBounty('just a harmless text file\n'), context());
    expect(result.verdict).toBe('benign');
    expect(result.metadata?.malware_family).toBe('');
  });

  it('answers unknown for URL artifacts, which it cannot scan', async () => {
    const result = await scan(fakeBounty('', { artifact_type: 'url', artifact_uri: 'https://example.com/' }), context());
    expect(result.verdict).toBe('unknown');
  });

  it('bids the maximum allowed on a certain verdict, in wei', async () => {
    const bounty = fakeBounty(EICAR);
    const bid = await computeBid(bounty, await scan(bounty, context()));
    expect(bid).toBe(1_000_000_000_000_000_000n);
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
