/** How `test corpus` shows itself: the terminal table, its JSON, and JUnit XML (one test case per file). */
import { stringifyJson } from '../protocol/json.js';
import { theme } from '../util/logger.js';
import { OUTCOMES, type CorpusReport, type FileResult } from './corpus.js';
import { escapeXml } from './report.js';
import { formatMs, histogramLines } from './stats.js';

/** A rate as people read it: `97.5%`, or `–` when there was nothing to count. */
export const percent = (rate: number | null): string => (rate === null ? '–' : `${(Math.round(rate * 1000) / 10).toFixed(1)}%`);

/** `[##########··········] 12/40` for a progress line. */
export function progressBar(done: number, total: number, width = 30): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'·'.repeat(width - filled)}] ${done}/${total}`;
}

/** The confusion matrix, the rates, latencies, bids, and the slowest and misjudged files. */
export function formatCorpusReport(r: CorpusReport): string {
  const cell = (text: string) => text.padStart(11);
  const lines = [
    '',
    `${'truth \\ answer'.padEnd(16)}${OUTCOMES.map(cell).join('')}`,
    ...(['malicious', 'benign'] as const).map(
      (truth) => `${truth.padEnd(16)}${OUTCOMES.map((o) => cell(String(r.matrix[truth][o]))).join('')}`,
    ),
    '',
    `detection rate        ${percent(r.detectionRate)}   (malicious files answered malicious)`,
    `false-positive rate   ${percent(r.falsePositiveRate)}   (benign files answered malicious)`,
    `unknown rate          ${percent(r.unknownRate)}`,
    `timeouts              ${r.timeouts}`,
    `missing answers       ${r.missing}${r.answeredTwice > 0 ? `   answered twice ${r.answeredTwice}` : ''}`,
    `scan latency          p50 ${formatMs(r.latency.p50)}  p95 ${formatMs(r.latency.p95)}  p99 ${formatMs(r.latency.p99)}  max ${formatMs(r.latency.max)}`,
    `bids staked           ${r.bidsRightNct} NCT on right assertions, ${r.bidsWrongNct} NCT on wrong ones`,
  ];
  if (r.latencyBins.length > 0) lines.push('', theme.dim('scan latency'), ...histogramLines(r.latencyBins));
  if (r.slowest.length > 0)
    lines.push('', theme.dim('slowest'), ...r.slowest.map((s) => `  ${formatMs(s.latencyMs).padStart(8)}  ${s.name}`));
  // The first 20 of a list, the rest counted.
  const listed = <T>(title: string, items: T[], line: (item: T) => string) => {
    if (items.length === 0) return;
    lines.push('', theme.dim(`${title} (${items.length})`), ...items.slice(0, 20).map(line));
    if (items.length > 20) lines.push(`  … and ${items.length - 20} more (see --json)`);
  };
  listed('misjudged', r.misjudged, (m) => `  ${m.name}: ${m.truth}, answered ${m.outcome}`);
  listed('answered unknown', r.unknowns, (u) => `  ${u.name}: ${u.truth}, ${u.reason}`);
  return lines.join('\n') + '\n';
}

/** The report as one JSON document (the per-file results are in the JUnit file, not here). */
export function corpusJson(r: CorpusReport, extra: Record<string, unknown> = {}): string {
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return (
    stringifyJson({
      corpus: {
        ...extra,
        ...r,
        latency: Object.fromEntries(Object.entries(r.latency).map(([k, v]) => [k, k === 'count' ? v : round(v)])),
        latencyBins: r.latencyBins.map((b) => ({ from: round(b.from), to: round(b.to), count: b.count })),
        slowest: r.slowest.map((s) => ({ name: s.name, latencyMs: round(s.latencyMs) })),
      },
    }) + '\n'
  );
}

/** Whether a file's result fails its JUnit case: misjudged, missing, timed out, or answered twice. */
export function fileFailure(f: FileResult): string | null {
  if (f.outcome === 'missing') return f.refused ? `the bounty was refused: ${f.refused}` : 'no answer before the expiration';
  if (f.answeredTwice) return 'answered twice';
  if (f.timedOut) return `timed out (answered ${f.outcome}${f.latencyMs === null ? '' : ` after ${formatMs(f.latencyMs)}`})`;
  if ((f.outcome === 'malicious' || f.outcome === 'benign') && f.outcome !== f.truth) return `${f.truth} file answered ${f.outcome}`;
  return null;
}

/** JUnit XML: one testsuite, a testcase per file (`unknown` and `suspicious` are skipped, not failed). */
export function corpusJunit(results: FileResult[], suiteName: string, timestamp = new Date()): string {
  const seconds = (ms: number | null) => ((ms ?? 0) / 1000).toFixed(3);
  const failures = results.filter((f) => fileFailure(f) !== null).length;
  const skipped = results.filter((f) => fileFailure(f) === null && (f.outcome === 'unknown' || f.outcome === 'suspicious')).length;
  const total = results.reduce((sum, f) => sum + (f.latencyMs ?? 0), 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="polyswarm-engine test corpus" tests="${results.length}" failures="${failures}" time="${seconds(total)}">`,
    `  <testsuite name="${escapeXml(suiteName)}" tests="${results.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(total)}" timestamp="${timestamp.toISOString().slice(0, 19)}">`,
  ];
  for (const f of results) {
    const open = `    <testcase classname="${escapeXml(`${suiteName}.${f.truth}`)}" name="${escapeXml(f.name)}" time="${seconds(f.latencyMs)}"`;
    const failure = fileFailure(f);
    if (failure !== null)
      lines.push(
        `${open}>`,
        `      <failure message="${escapeXml(failure)}" type="${f.outcome === 'missing' ? 'Missing' : 'Misjudged'}"/>`,
        '    </testcase>',
      );
    else if (f.outcome === 'unknown' || f.outcome === 'suspicious') {
      const why = f.reason ? `: ${f.reason}` : '';
      lines.push(`${open}>`, `      <skipped message="${escapeXml(`answered ${f.outcome}${why}`)}"/>`, '    </testcase>');
    } else lines.push(`${open}/>`);
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}
