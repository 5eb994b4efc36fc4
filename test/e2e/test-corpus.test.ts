/**
 * `test corpus` end to end: a generated corpus (EICAR variants, a file only a ClamAV test signature knows, benign
 * files), the built bin against real engines on loopback, and the HTML report opened in a real headless Chromium
 * (Debian's /usr/bin/chromium, driven by playwright-core) that reads its numbers back.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runBin } from '../helpers/bin.js';
import { createEngine } from '../../src/engine/engine.js';
import { EICAR, eicarScan, useEngines } from '../helpers/engines.js';
import { parseXml } from '../unit/simulator/xml.js';

const SECRET = 'qwertyuiop';
const CHROMIUM = '/usr/bin/chromium';
const tmp = mkdtempSync(join(tmpdir(), 'pse-test-corpus-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const engines = useEngines(SECRET);

/** Bytes that no scanner knows, except through the ClamAV test signature written below. */
const CLAM_TEST = Buffer.from('polyswarm-engine corpus: a file known only to a ClamAV test signature\n');

const corpus = join(tmp, 'corpus');
const files: Record<string, string | Buffer> = {
  'malicious/eicar.com': EICAR,
  'malicious/eicar-trailing-space.txt': `${EICAR}   `,
  'malicious/eicar-crlf.txt': `${EICAR}\r\n`,
  'malicious/nested/clamav-test-signature.bin': CLAM_TEST,
  'benign/readme.txt': 'just text\n',
  'benign/data.json': '{"hello":"world"}\n',
  'benign/empty.txt': '',
  'benign/page.html': '<!doctype html><p>hi</p>\n',
  'benign/random.bin': createHash('sha512').update('seed').digest(),
};
for (const [name, content] of Object.entries(files)) {
  mkdirSync(join(corpus, name, '..'), { recursive: true });
  writeFileSync(join(corpus, name), content);
}

const corpusRun = (args: string[]) =>
  runBin(['test', 'corpus', ...args, '--secret', SECRET, '--expiration', '5s'], { cwd: tmp, timeout: 60_000 });

interface CorpusDoc {
  corpus: {
    ok: boolean;
    failures: string[];
    files: number;
    matrix: Record<string, Record<string, number>>;
    detectionRate: number;
    falsePositiveRate: number;
    unknownRate: number;
    missing: number;
    latency: { count: number; p50: number; p99: number };
    latencyBins: { count: number }[];
    bidsRightNct: string;
    bidsWrongNct: string;
    misjudged: { name: string }[];
    slowest: { name: string }[];
  };
}

describe("test corpus (built bin) against the project's own engine", () => {
  it('prints the matrix, writes JSON, JUnit and an HTML page whose numbers a headless Chromium reads back', async () => {
    const url = await engines.own();
    const junit = join(tmp, 'corpus.xml');
    const html = join(tmp, 'corpus.html');
    const text = await corpusRun([corpus, '--url', url, '--concurrency', '3', '--junit', junit, '--html', html]);
    expect(text.exitCode, `${text.stdout}\n${text.stderr}`).toBe(0);
    expect(text.stdout).toMatch(
      /truth \\ answer +malicious +benign +suspicious +unknown +missing\nmalicious +3 +1 +0 +0 +0\nbenign +0 +5 +0 +0 +0\n/,
    );
    expect(text.stdout).toContain('detection rate        75.0%');
    expect(text.stdout).toContain('false-positive rate   0.0%');
    expect(text.stdout).toContain('misjudged (1)\n  malicious/nested/clamav-test-signature.bin: malicious, answered benign');
    // The eicarScan engine bids the rules' maximum (1 NCT) on each malicious/benign answer.
    expect(text.stdout).toContain('bids staked           8 NCT on right assertions, 1 NCT on wrong ones');
    expect(text.stderr).toContain('[##############################] 9/9');

    const json = await corpusRun([corpus, '--url', url, '--json']);
    expect(json.exitCode).toBe(0);
    expect(json.stderr).toBe('');
    const doc = JSON.parse(json.stdout) as CorpusDoc;
    expect(doc.corpus).toMatchObject({
      ok: true,
      files: 9,
      matrix: {
        malicious: { malicious: 3, benign: 1, suspicious: 0, unknown: 0, missing: 0 },
        benign: { malicious: 0, benign: 5, suspicious: 0, unknown: 0, missing: 0 },
      },
      detectionRate: 0.75,
      falsePositiveRate: 0,
      unknownRate: 0,
      missing: 0,
      bidsRightNct: '8',
      bidsWrongNct: '1',
      misjudged: [{ name: 'malicious/nested/clamav-test-signature.bin', truth: 'malicious', outcome: 'benign' }],
    });
    expect(doc.corpus.latency.count).toBe(9);

    // JUnit: one case per file, the misjudged one failed.
    const suite = parseXml(readFileSync(junit, 'utf8')).children[0];
    expect(suite.attributes).toMatchObject({ tests: '9', failures: '1' });
    expect(suite.children.map((c) => c.attributes.name).sort()).toEqual(Object.keys(files).sort());
    const failed = suite.children.filter((c) => c.children.some((f) => f.name === 'failure'));
    expect(failed.map((c) => [c.attributes.name, c.children[0].attributes.message])).toEqual([
      ['malicious/nested/clamav-test-signature.bin', 'malicious file answered benign'],
    ]);

    // The page, in a real browser: nothing fetched, the numbers where they should be.
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      await page.goto(`file://${html}`);
      const screenshot = join(tmp, 'corpus.png');
      await page.screenshot({ path: screenshot, fullPage: true });
      expect(statSync(screenshot).size).toBeGreaterThan(10_000);
      expect(requests).toEqual([`file://${html}`]);
      const cell = (truth: string, outcome: string) =>
        page.locator(`#matrix td[data-truth="${truth}"][data-outcome="${outcome}"]`).textContent();
      expect(await cell('malicious', 'malicious')).toBe('3');
      expect(await cell('malicious', 'benign')).toBe('1');
      expect(await cell('benign', 'benign')).toBe('5');
      expect(await cell('benign', 'malicious')).toBe('0');
      expect(await page.locator('#detection-rate').textContent()).toBe('75.0%');
      expect(await page.locator('#false-positive-rate').textContent()).toBe('0.0%');
      expect(await page.locator('#files').textContent()).toBe('9');
      expect(await page.locator('#bids-right').textContent()).toBe('8 NCT');
      expect(await page.locator('#misjudged li').allInnerTexts()).toEqual([
        'malicious/nested/clamav-test-signature.bin: malicious, answered benign',
      ]);
      // The chart: its bars add up to the answered files, and they are drawn.
      const counts = await page
        .locator('#latency-chart rect.bar')
        .evaluateAll((bars) => bars.map((b) => Number(b.getAttribute('data-count'))));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(9);
      const box = await page.locator('#latency-chart').boundingBox();
      expect(box!.width).toBeGreaterThan(300);
      expect(await page.title()).toBe('polyswarm-engine test corpus: 75.0% detection, 0.0% false positives');
    } finally {
      await browser.close();
    }
  }, 90_000);

  it('--labels: a CSV of paths or sha256 with labels gives the same matrix; the gates fail CI (exit 1)', async () => {
    const url = await engines.own();
    const sha = (name: string) => createHash('sha256').update(files[name]).digest('hex');
    const labels = join(tmp, 'labels.csv');
    const rows = Object.keys(files).map(
      (name, i) => `${i % 2 === 0 ? name : sha(name)},${name.startsWith('malicious/') ? 'malicious' : 'benign'}`,
    );
    // benign/empty.txt and others are labelled by hash; a header row is allowed.
    writeFileSync(labels, ['file,label', ...rows, ''].join('\n'));
    const r = await corpusRun([corpus, '--url', url, '--labels', labels, '--json', '--min-detection', '90', '--max-false-positives', '1']);
    expect(r.exitCode).toBe(1);
    const doc = JSON.parse(r.stdout) as CorpusDoc;
    expect(doc.corpus.matrix).toEqual({
      malicious: { malicious: 3, benign: 1, suspicious: 0, unknown: 0, missing: 0 },
      benign: { malicious: 0, benign: 5, suspicious: 0, unknown: 0, missing: 0 },
    });
    expect(doc.corpus.failures).toEqual(['detection rate 75.0% is below --min-detection 90.0%']);
    const text = await corpusRun([corpus, '--url', url, '--min-detection', '75']);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain('✓ corpus passed');
  }, 60_000);

  it('an engine that never answers: every file missing, exit 1', async () => {
    const r = await corpusRun([corpus, '--url', await engines.fixture({ silent: true }), '--expiration', '1s', '--concurrency', '9']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/\nmalicious +0 +0 +0 +0 +4\nbenign +0 +0 +0 +0 +5\n/);
    expect(r.stdout).toContain('9 files got no answer: every accepted bounty must be answered (unknown, bid 0, when undecided)');
  }, 60_000);

  it('names every file answered unknown with its reason, in text, JSON, JUnit and HTML; without a gate says so', async () => {
    const small = join(tmp, 'small');
    for (const [name, content] of Object.entries({
      'malicious/eicar.com': EICAR,
      'benign/readme.txt': 'hi\n',
      'benign/boom.txt': 'boom',
    })) {
      mkdirSync(join(small, name, '..'), { recursive: true });
      writeFileSync(join(small, name), content);
    }
    // The project's own engine, whose scan throws on one file: answered unknown with ERROR:parser exploded.
    const engine = createEngine({
      secret: SECRET,
      module: {
        async scan(bounty) {
          const bytes = await bounty.fetchArtifact();
          if (bytes.toString() === 'boom') throw new Error('parser exploded');
          return eicarScan.scan(bounty, undefined as never);
        },
      },
    });
    const listening = await engine.listen({ port: 0, host: '127.0.0.1' });
    engines.track(async () => {
      await listening.close();
      await engine.close({ graceMs: 100 });
    });
    const junit = join(tmp, 'small.xml');
    const html = join(tmp, 'small.html');
    const text = await corpusRun([small, '--url', listening.url, '--junit', junit, '--html', html]);
    expect(text.exitCode, `${text.stdout}\n${text.stderr}`).toBe(0);
    expect(text.stdout).toContain('\nanswered unknown (1)\n  benign/boom.txt: benign, ERROR:parser exploded\n');
    expect(text.stdout).toMatch(/\n✓ every file answered, once; no gate set \(--min-detection, --max-false-positives\)$/);
    expect(text.stdout).not.toContain('corpus passed');
    const junitCase = parseXml(readFileSync(junit, 'utf8')).children[0].children.find((c) => c.attributes.name === 'benign/boom.txt')!;
    expect(junitCase.children[0]).toMatchObject({ name: 'skipped', attributes: { message: 'answered unknown: ERROR:parser exploded' } });
    expect(readFileSync(html, 'utf8')).toContain(
      '<ol id="unknowns"><li data-truth="benign">benign/boom.txt: benign, <span class="reason">ERROR:parser exploded</span></li></ol>',
    );

    const json = await corpusRun([small, '--url', listening.url, '--json']);
    const doc = JSON.parse(json.stdout) as CorpusDoc & { corpus: { unknowns: unknown[]; gates: unknown } };
    expect(doc.corpus.unknowns).toEqual([{ name: 'benign/boom.txt', truth: 'benign', reason: 'ERROR:parser exploded' }]);
    expect(doc.corpus.gates).toEqual({ minDetection: null, maxFalsePositives: null });
  }, 60_000);

  it('usage errors: no folder, no labelled files, a bad labels row, a bad percentage (exit 2)', async () => {
    const url = await engines.fixture();
    const empty = join(tmp, 'empty');
    mkdirSync(empty, { recursive: true });
    const bad = join(tmp, 'bad.csv');
    writeFileSync(bad, 'benign/readme.txt,benign\nbenign/data.json,clean\n');
    const cases: [string[], string][] = [
      [[join(tmp, 'nowhere')], `Error: ${join(tmp, 'nowhere')}: no such folder`],
      [[empty], `Error: ${empty}: no files under ${join(empty, 'malicious')}/ or ${join(empty, 'benign')}/`],
      [[corpus, '--labels', bad], `Error: --labels ${bad}:2: expected "path or sha256,malicious|benign", got "benign/data.json,clean"`],
      [[corpus, '--min-detection', 'most'], 'Error: --min-detection "most": expected a percentage between 0 and 100, e.g. 95'],
    ];
    for (const [args, message] of cases) {
      const r = await corpusRun([...args, '--url', url]);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
  });
});

const hasClamscan = (() => {
  try {
    execaSync('clamscan', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasClamscan)('test corpus against a project of the clamav template, with ClamAV test signatures', () => {
  it('detects the EICAR variants and the file of the test signature: 100% detection, no false positive', async () => {
    // Body signatures (.ndb): EICAR anywhere in a file, and the corpus's ClamAV test file.
    const db = join(tmp, 'test-signatures.ndb');
    writeFileSync(
      db,
      [
        `Eicar-Test-Signature:0:*:${Buffer.from(EICAR).toString('hex')}`,
        `PolySwarm-Engine-Test-Signature:0:*:${CLAM_TEST.toString('hex')}`,
        '',
      ].join('\n'),
    );
    // A project made of the clamav template's scan module, this checkout as its dependency; zero setup boots it.
    const project = join(tmp, 'clamav-engine');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    symlinkSync(ROOT, join(project, 'node_modules', 'polyswarm-engine'), 'dir');
    // The template's one other dependency, from this checkout's own (no install: no registry in tests).
    symlinkSync(join(ROOT, 'node_modules', 'execa'), join(project, 'node_modules', 'execa'), 'dir');
    cpSync(join(ROOT, 'templates', 'clamav', 'src'), join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'clamav-engine', private: true, type: 'module' }));
    writeFileSync(join(project, '.env'), `WEBHOOK_SECRET=${SECRET}\nCLAMAV_DATABASE=${db}\n`);
    const r = await corpusRun([corpus, '--cwd', project, '--json', '--min-detection', '100', '--max-false-positives', '0']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as CorpusDoc;
    expect(doc.corpus.matrix.malicious).toMatchObject({ malicious: 4, benign: 0 });
    expect(doc.corpus.matrix.benign).toMatchObject({ malicious: 0, benign: 5 });
    expect(doc.corpus.detectionRate).toBe(1);
  }, 90_000);
});
