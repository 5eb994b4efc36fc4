import { describe, expect, it } from 'vitest';
import { weiToNct } from '../../../src/protocol/bid.js';
import {
  caseFormatter,
  caseJson,
  commonCauses,
  escapeXml,
  formatCase,
  formatCommonCauses,
  formatSummary,
  junitXml,
  summaryJson,
} from '../../../src/simulator/report.js';
import type { CaseResult } from '../../../src/simulator/types.js';
import type { TestReport } from '../../../src/simulator/types.js';
import { parseXml } from './xml.js';

const report: TestReport = {
  ok: false,
  passed: 1,
  failed: 1,
  cases: [
    { name: 'ping', ok: true, ms: 12, messages: [], warnings: [] },
    {
      name: 'bounty: <EICAR> & "friends"',
      ok: false,
      ms: 1534,
      messages: ['assertion /bid: must be a JSON integer written as digits, got 1e+21', "second <problem> & 'quote'\u0001"],
      warnings: ['the 400 body is not JSON: <html>'],
      answer: { verdict: 'malicious', bid: 10n ** 21n },
    },
  ],
};

describe('report formats', () => {
  it('text: one line per case with ✓/✗ and timing, messages indented, then exactly "N passed, N failed"', () => {
    expect(formatCase(report.cases[0])).toBe('✓ ping (12ms)\n');
    expect(formatCase(report.cases[1])).toBe(
      '✗ bounty: <EICAR> & "friends" (1.5s) → malicious, bid 1000 NCT (1000000000000000000000 wei)\n' +
        '    assertion /bid: must be a JSON integer written as digits, got 1e+21\n' +
        "    second <problem> & 'quote'\u0001\n" +
        '    warning: the 400 body is not JSON: <html>\n',
    );
    expect(formatSummary(report)).toBe('1 passed, 1 failed\n');
  });

  it('text: the verdict, bid in NCT and wei, and family on the line; the reason on every unknown and failure', () => {
    const metadata = { malware_family: 'Eicar-Test-Signature', comments: ['ERROR:No supported database files found'] };
    const line = (answer: unknown, ok = true) => formatCase({ name: 'bounty: EICAR', ok, ms: 1600, messages: [], warnings: [], answer });
    expect(line({ verdict: 'malicious', bid: 531_250_000_000_000_000n, metadata })).toBe(
      '✓ bounty: EICAR (1.6s) → malicious, bid 0.53125 NCT (531250000000000000 wei), family Eicar-Test-Signature\n',
    );
    expect(line({ verdict: 'unknown', bid: 0n, metadata: { malware_family: '', comments: ['SKIPPED:TIMEOUT'] } })).toBe(
      '✓ bounty: EICAR (1.6s) → unknown, bid 0 NCT (0 wei), reason SKIPPED:TIMEOUT\n',
    );
    expect(line({ verdict: 'unknown', bid: 0n, metadata }, false)).toContain('reason ERROR:No supported database files found');
    expect(line({ verdict: 'benign', metadata: { comments: ['checked twice'] } }, false)).toBe(
      '✗ bounty: EICAR (1.6s) → benign, reason checked twice\n',
    );
    expect(line(undefined)).toBe('✓ bounty: EICAR (1.6s)\n');
    expect(line({ verdict: 'unknown', bid: 0, metadata: {} })).toBe('✓ bounty: EICAR (1.6s) → unknown, bid 0 NCT (0 wei)\n');
    expect(weiToNct(1n)).toBe('0.000000000000000001');
    expect(weiToNct(2n * 10n ** 18n)).toBe('2');
  });

  it('a long reason shared by failing cases: in full once, then "(as above)"; grouped before the summary', () => {
    const reason = 'ERROR:cli_loaddbdir: No supported database files found in /var/lib/clamav';
    const failing = (name: string, expect = 'malicious'): CaseResult => ({
      name,
      ok: false,
      ms: 2000,
      messages: [`expected verdict ${expect}, got unknown (its metadata.comments: ${JSON.stringify([reason])})`],
      warnings: [],
      answer: { verdict: 'unknown', bid: 0n, metadata: { comments: [reason] } },
    });
    const timeout: CaseResult = {
      ...failing('slow'),
      answer: undefined,
      messages: ['got unknown (its metadata.comments: ["SKIPPED:TIMEOUT"])'],
    };
    const cases = [failing('eicar'), failing('benign', 'benign'), timeout];
    const format = caseFormatter();
    const [first, second, third] = cases.map(format);
    expect(first).toBe(
      `✗ eicar (2.0s) → unknown, bid 0 NCT (0 wei), reason ${reason}\n` +
        '    expected verdict malicious, got unknown (its metadata.comments: ["ERROR:cli_loaddbdir: No suppor… (as above)"])\n',
    );
    expect(second).toBe(
      '✗ benign (2.0s) → unknown, bid 0 NCT (0 wei), reason ERROR:cli_loaddbdir: No suppor… (as above)\n' +
        '    expected verdict benign, got unknown (its metadata.comments: ["ERROR:cli_loaddbdir: No suppor… (as above)"])\n',
    );
    // A short reason is repeated as is.
    expect(third).toBe('✗ slow (2.0s)\n    got unknown (its metadata.comments: ["SKIPPED:TIMEOUT"])\n');
    expect(commonCauses({ cases })).toEqual([{ reason, cases: ['eicar', 'benign'] }]);
    expect(formatCommonCauses({ cases, failed: 3 })).toBe(
      `2 of 3 failures have one cause: the engine answered ${reason}\n  (eicar; benign)\n`,
    );
    expect(formatCommonCauses({ cases: cases.slice(0, 2), failed: 2 })).toBe(
      `All 2 failures have one cause: the engine answered ${reason}\n`,
    );
    expect(formatCommonCauses({ cases: [timeout], failed: 1 })).toBe('');
  });

  it('json: one document per line, bigints as digits, then the summary', () => {
    const line = caseJson(report.cases[1]);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.trim()).not.toContain('\n');
    expect(line).toContain('"bid":1000000000000000000000');
    expect(JSON.parse(line)).toMatchObject({ case: 'bounty: <EICAR> & "friends"', ok: false, ms: 1534 });
    expect(JSON.parse(summaryJson(report, { suite: 'all' }))).toEqual({
      summary: { ok: false, passed: 1, failed: 1, ms: 1546, suite: 'all' },
    });
  });

  it('junit: well-formed XML, one testsuite, one testcase per case, a failure with the first message', () => {
    const xml = junitXml(report, 'polyswarm-engine test all', new Date('2030-01-01T00:00:00Z'));
    const root = parseXml(xml);
    expect(root.name).toBe('testsuites');
    expect(root.children.map((c) => c.name)).toEqual(['testsuite']);
    const suite = root.children[0];
    expect(suite.attributes).toMatchObject({
      name: 'polyswarm-engine test all',
      tests: '2',
      failures: '1',
      timestamp: '2030-01-01T00:00:00',
    });
    expect(suite.children.map((c) => [c.name, c.attributes.name])).toEqual([
      ['testcase', 'ping'],
      ['testcase', 'bounty: <EICAR> & "friends"'],
    ]);
    const failure = suite.children[1].children.find((c) => c.name === 'failure')!;
    expect(failure.attributes.message).toBe('assertion /bid: must be a JSON integer written as digits, got 1e+21');
    // The control character XML cannot carry is dropped; everything else survives the round trip.
    expect(failure.text).toBe("assertion /bid: must be a JSON integer written as digits, got 1e+21\nsecond <problem> & 'quote'");
    expect(suite.children[1].children.find((c) => c.name === 'system-out')!.text).toBe('warning: the 400 body is not JSON: <html>');
    expect(suite.children[0].attributes.time).toBe('0.012');
  });

  it('the XML checker itself rejects what is not well-formed', () => {
    expect(() => parseXml('<a><b></a></b>')).toThrow('</a> closes <b>');
    expect(() => parseXml('<a x="1 & 2"/>')).toThrow('raw &');
    expect(() => parseXml('<a>1 < 2</a>')).toThrow('malformed markup');
    expect(() => parseXml('<a/><b/>')).toThrow('more than one root');
    expect(() => parseXml('<a>')).toThrow('never closed');
    expect(escapeXml('<&>"\'')).toBe('&lt;&amp;&gt;&quot;&apos;');
  });
});
