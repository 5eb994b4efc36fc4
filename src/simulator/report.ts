import { weiToNct } from '../protocol/bid.js';
import { stringifyJson } from '../protocol/json.js';
import { formatDuration } from '../util/duration.js';
import { theme } from '../util/logger.js';
import type { CaseResult, TestReport } from './types.js';

/** The reason an answer gives (`metadata.comments`, e.g. `ERROR:…`, `SKIPPED:TIMEOUT`), or null. */
function answerReason(metadata: Record<string, unknown> | undefined): string | null {
  // One comment may come as a bare string.
  const list = [metadata?.comments].flat().filter((c): c is string => typeof c === 'string');
  return list.length > 0 ? list.join('; ') : null;
}

/**
 * What the engine answered, for the case's line: `malicious, bid 0.53125 NCT (531250000000000000 wei), family X`;
 * the reason (`metadata.comments`) too on an `unknown` or a failing case. Null when there was no answer.
 */
export function describeAnswer(answer: unknown, failed = false): string | null {
  if (answer === null || typeof answer !== 'object') return null;
  const { verdict, bid, metadata } = answer as { verdict?: unknown; bid?: unknown; metadata?: Record<string, unknown> };
  if (typeof verdict !== 'string') return null;
  const parts = [verdict];
  if (typeof bid === 'bigint' || (typeof bid === 'number' && Number.isSafeInteger(bid)))
    parts.push(`bid ${weiToNct(BigInt(bid))} NCT (${bid} wei)`);
  else if (typeof bid === 'number') parts.push(`bid ${bid} wei`);
  const family = metadata?.malware_family;
  if (typeof family === 'string' && family !== '') parts.push(`family ${family}`);
  const reason = answerReason(metadata);
  if (reason && (verdict === 'unknown' || failed)) parts.push(`reason ${reason}`);
  return parts.join(', ');
}

/**
 * A case as people read it: `✓ name (12ms)`, followed by what the engine answered when it posted an answer,
 * then its failure messages and warnings indented under it.
 */
export function formatCase(result: CaseResult): string {
  const said = describeAnswer(result.answer, !result.ok);
  const lines = [
    `${result.ok ? theme.pass : theme.cross} ${result.name} ${theme.dim(`(${formatDuration(result.ms)})`)}${said ? ` ${theme.dim('→')} ${said}` : ''}`,
  ];
  for (const message of result.messages) lines.push(`    ${theme.fail(message)}`);
  for (const warning of result.warnings) lines.push(`    ${theme.warn('warning')}: ${warning}`);
  return lines.join('\n') + '\n';
}

/** Below this length a reason is short enough to repeat on every case (`SKIPPED:TIMEOUT`). */
const LONG_REASON = 40;

/** The engine's reasons (`ERROR:…`, `SKIPPED:…` comments) a case shows: in its answer and quoted in its messages. */
export function caseReasons(result: CaseResult): string[] {
  const reasons = new Set<string>();
  const comments = (result.answer as { metadata?: { comments?: unknown } } | undefined)?.metadata?.comments;
  if (Array.isArray(comments)) for (const c of comments) if (typeof c === 'string' && /^[A-Z-]+:/.test(c)) reasons.add(c);
  for (const message of result.messages) {
    for (const match of message.matchAll(/"((?:ERROR|SKIPPED):(?:[^"\\]|\\.)*)"/g)) reasons.add(JSON.parse(`"${match[1]}"`) as string);
  }
  return [...reasons];
}

/**
 * `formatCase` for a stream of cases that shows each long reason once: when every bounty fails with the same
 * scanner error (ClamAV without signatures), the second and later mentions read `ERROR:cli_loaddbdir: No sup… (as
 * above)` instead of the whole line again.
 */
export function caseFormatter(): (result: CaseResult) => string {
  const shown = new Set<string>();
  return (result) => {
    let text = formatCase(result);
    for (const reason of caseReasons(result)) {
      if (reason.length < LONG_REASON) continue;
      const short = `${reason.slice(0, LONG_REASON - 10)}… (as above)`;
      for (const form of new Set([reason, JSON.stringify(reason).slice(1, -1)])) {
        let first = !shown.has(reason);
        text = text.replaceAll(form, () => {
          const kept = first ? form : short;
          first = false;
          return kept;
        });
      }
      shown.add(reason);
    }
    return text;
  };
}

/**
 * The reasons several failing cases share, most shared first: one root cause (no signatures, a scanner not
 * installed) makes every bounty case fail, and is better said once than read thirty times.
 */
export function commonCauses(report: Pick<TestReport, 'cases'>): { reason: string; cases: string[] }[] {
  const byReason = new Map<string, string[]>();
  for (const c of report.cases) {
    if (c.ok) continue;
    for (const reason of caseReasons(c)) byReason.set(reason, [...(byReason.get(reason) ?? []), c.name]);
  }
  return [...byReason]
    .filter(([, cases]) => cases.length > 1)
    .sort((a, b) => b[1].length - a[1].length)
    .map(([reason, cases]) => ({ reason, cases }));
}

/** The common causes, as lines to print before the summary (empty when there is none). */
export function formatCommonCauses(report: Pick<TestReport, 'cases' | 'failed'>): string {
  return commonCauses(report)
    .map(({ reason, cases }) =>
      cases.length === report.failed
        ? `${theme.fail(`All ${cases.length} failures have one cause: the engine answered`)} ${reason}\n`
        : `${theme.fail(`${cases.length} of ${report.failed} failures have one cause: the engine answered`)} ${reason}\n` +
          theme.dim(`  (${cases.join('; ')})\n`),
    )
    .join('');
}

/** The summary line, exactly `N passed, N failed` (then `, N not run` when the run stopped early). */
export function formatSummary(report: Pick<TestReport, 'passed' | 'failed' | 'notRun'>): string {
  return `${report.passed} passed, ${report.failed} failed${report.notRun ? `, ${report.notRun} not run` : ''}\n`;
}

/** A case as one JSON line (bigints in answers as integer digits). */
export function caseJson({ name, ...rest }: CaseResult): string {
  return stringifyJson({ case: name, ...rest }) + '\n';
}

/** The final JSON line: `{"summary":{…}}`. */
export function summaryJson(report: TestReport, extra: Record<string, unknown> = {}): string {
  const ms = report.cases.reduce((sum, c) => sum + c.ms, 0);
  const notRun = report.notRun ? { notRun: report.notRun } : {};
  return stringifyJson({ summary: { ok: report.ok, passed: report.passed, failed: report.failed, ...notRun, ms, ...extra } }) + '\n';
}

/** Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry at all. */
export function escapeXml(text: string): string {
  return text
    .replace(/[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** A JUnit XML report: one testsuite, one testcase per case, `<failure message=…>` for a failing one. */
export function junitXml(report: TestReport, suiteName: string, timestamp = new Date()): string {
  const seconds = (ms: number) => (ms / 1000).toFixed(3);
  const total = report.cases.reduce((sum, c) => sum + c.ms, 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="polyswarm-engine test" tests="${report.cases.length}" failures="${report.failed}" time="${seconds(total)}">`,
    `  <testsuite name="${escapeXml(suiteName)}" tests="${report.cases.length}" failures="${report.failed}" errors="0" skipped="0" time="${seconds(total)}" timestamp="${timestamp.toISOString().slice(0, 19)}">`,
  ];
  for (const c of report.cases) {
    const open = `    <testcase classname="${escapeXml(suiteName)}" name="${escapeXml(c.name)}" time="${seconds(c.ms)}"`;
    const warnings =
      c.warnings.length > 0 ? `      <system-out>${escapeXml(c.warnings.map((w) => `warning: ${w}`).join('\n'))}</system-out>` : null;
    if (c.ok && !warnings) {
      lines.push(`${open}/>`);
      continue;
    }
    lines.push(`${open}>`);
    if (!c.ok) {
      lines.push(
        `      <failure message="${escapeXml(c.messages[0] ?? 'failed')}" type="CheckFailed">${escapeXml(c.messages.join('\n'))}</failure>`,
      );
    }
    if (warnings) lines.push(warnings);
    lines.push('    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}
