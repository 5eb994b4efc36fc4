import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { weiToNct } from '../../../src/protocol/bid.js';
import { collectCorpus, summarize, type FileResult } from '../../../src/simulator/corpus.js';
import { corpusJunit, fileFailure, percent, progressBar } from '../../../src/simulator/corpus-report.js';
import { corpusHtml } from '../../../src/simulator/corpus-html.js';
import { UsageError } from '../../../src/util/errors.js';
import { parseXml } from './xml.js';

const tmp = mkdtempSync(join(tmpdir(), 'pse-corpus-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const result = (name: string, truth: FileResult['truth'], outcome: FileResult['outcome'], extra: Partial<FileResult> = {}): FileResult => ({
  name,
  truth,
  outcome,
  bid: outcome === 'malicious' || outcome === 'benign' ? '500000000000000000' : outcome === 'missing' ? null : '0',
  latencyMs: outcome === 'missing' ? null : 10,
  timedOut: false,
  answeredTwice: false,
  ...extra,
});

describe('collectCorpus', () => {
  it('takes malicious/ and benign/ recursively, names relative with /', async () => {
    const dir = join(tmp, 'folders');
    mkdirSync(join(dir, 'malicious', 'deep'), { recursive: true });
    mkdirSync(join(dir, 'benign'), { recursive: true });
    writeFileSync(join(dir, 'malicious', 'deep', 'a.bin'), 'a');
    writeFileSync(join(dir, 'benign', 'b.txt'), 'b');
    writeFileSync(join(dir, 'ignored.txt'), 'c');
    const entries = await collectCorpus(dir);
    expect(entries.map(({ name, truth }) => [name, truth])).toEqual([
      ['malicious/deep/a.bin', 'malicious'],
      ['benign/b.txt', 'benign'],
    ]);
  });

  it('takes a labels CSV of paths or sha256 (header row allowed, labels case-insensitive)', async () => {
    const dir = join(tmp, 'flat');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'x.bin'), 'x');
    writeFileSync(join(dir, 'y.bin'), 'y');
    const labels = join(tmp, 'labels.csv');
    writeFileSync(labels, `path,label\r\nx.bin,Malicious\r\n${createHash('sha256').update('y').digest('hex')},benign\r\n`);
    const entries = await collectCorpus(dir, labels);
    expect(entries.map(({ name, truth }) => [name, truth])).toEqual([
      ['x.bin', 'malicious'],
      ['y.bin', 'benign'],
    ]);
    writeFileSync(labels, `${'0'.repeat(64)},benign\n`);
    await expect(collectCorpus(dir, labels)).rejects.toThrow(`--labels ${labels}:1: no file under ${dir} has sha256 ${'0'.repeat(64)}`);
    writeFileSync(labels, 'nope.bin,benign\n');
    await expect(collectCorpus(dir, labels)).rejects.toThrow(UsageError);
  });
});

describe('summarize and its reports', () => {
  const results = [
    result('m1', 'malicious', 'malicious'),
    result('m2', 'malicious', 'benign'),
    result('m3', 'malicious', 'unknown', { timedOut: true }),
    result('m4', 'malicious', 'missing', { refused: 'HTTP 503' }),
    result('b1', 'benign', 'benign'),
    result('b2', 'benign', 'malicious', { latencyMs: 99 }),
    result('b3', 'benign', 'suspicious'),
  ];
  const report = summarize(results);

  it('the matrix, the rates, the bids in NCT, the slowest and misjudged files', () => {
    expect(report.matrix).toEqual({
      malicious: { malicious: 1, benign: 1, suspicious: 0, unknown: 1, missing: 1 },
      benign: { malicious: 1, benign: 1, suspicious: 1, unknown: 0, missing: 0 },
    });
    expect(report).toMatchObject({
      files: 7,
      detectionRate: 0.25,
      falsePositiveRate: 1 / 3,
      unknownRate: 1 / 7,
      timeouts: 1,
      missing: 1,
      bidsRightNct: '1',
      bidsWrongNct: '1',
    });
    expect(report.slowest[0]).toEqual({ name: 'b2', latencyMs: 99 });
    expect(report.misjudged).toEqual([
      { name: 'm2', truth: 'malicious', outcome: 'benign' },
      { name: 'b2', truth: 'benign', outcome: 'malicious' },
    ]);
    expect(summarize([]).detectionRate).toBeNull();
  });

  it('weiToNct is exact', () => {
    expect([0n, 1n, 10n ** 18n, 62500000000000000n, 1n << 70n].map(weiToNct)).toEqual([
      '0',
      '0.000000000000000001',
      '1',
      '0.0625',
      '1180.591620717411303424',
    ]);
  });

  it('JUnit: a case per file, failures for misjudged, missing and timed-out files, unknown/suspicious skipped', () => {
    const suite = parseXml(corpusJunit(results, 'corpus')).children[0];
    expect(suite.attributes).toMatchObject({ tests: '7', failures: '4', skipped: '1' });
    expect(fileFailure(results[3])).toBe('the bounty was refused: HTTP 503');
    expect(fileFailure(results[2])).toBe('timed out (answered unknown after 10.0ms)');
  });

  it('the HTML page is self-contained and escapes file names', () => {
    const page = corpusHtml(
      { ...report, misjudged: [{ name: '<script>x</script>', truth: 'benign', outcome: 'malicious' }] },
      { engine: 'http://127.0.0.1:1/', corpus: '/c' },
    );
    expect(page).toContain("default-src 'none'");
    expect(page).not.toMatch(/<script|src=|href=/);
    expect(page).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(page).toContain('<dd id="detection-rate" data-value="0.25">25.0%</dd>');
  });

  it('percent and progressBar', () => {
    expect([null, 0, 0.9995, 1].map(percent)).toEqual(['–', '0.0%', '100.0%', '100.0%']);
    expect(progressBar(1, 4, 8)).toBe('[##······] 1/4');
  });
});
