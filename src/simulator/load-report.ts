/** How `test load` shows itself: the live progress line, the final table and histogram, and its JSON. */
import { stringifyJson } from '../protocol/json.js';
import { theme } from '../util/logger.js';
import type { LoadProgress, LoadReport } from './load.js';
import { formatMs, histogramLines } from './stats.js';

/**
 * `12s  sent 240  acknowledged 240  answered 236  lost 0  p99 41.2ms`. The ticker fires every second by its own clock,
 * which can run a millisecond ahead of `performance.now()`: rounding shows the 5th tick as 5s, never 4s.
 */
export function progressLine(p: LoadProgress): string {
  return (
    `${Math.round(p.elapsedMs / 1000)}s  sent ${p.sent}  acknowledged ${p.acknowledged}  answered ${p.answered}  ` +
    `lost ${p.lost}  p99 ${p.currentP99 > 0 ? formatMs(p.currentP99) : '–'}`
  );
}

const row = (label: string, cells: string[]) => `${label.padEnd(31)}${cells.map((c) => c.padStart(10)).join('')}`;

/** The final table, then the answer-latency histogram, then the verdict line. */
export function formatLoadReport(r: LoadReport): string {
  const mode = 'rate' in r.mode ? `${r.mode.rate}/s` : `${r.mode.concurrency} in flight`;
  const lines = [
    '',
    `${theme.dim('load')} ${mode} for ${(r.sendingMs / 1000).toFixed(1)}s (${(r.durationMs / 1000).toFixed(1)}s with the last answers): sent ${r.sent}, acknowledged ${r.acknowledged}, answered ${r.answered} (${r.answeredPerSecond.toFixed(1)}/s)`,
    '',
    row('', ['p50', 'p95', 'p99', 'max']),
    row('acknowledgement latency', [r.ack.p50, r.ack.p95, r.ack.p99, r.ack.max].map(formatMs)),
    row('answer latency (202 → answer)', [r.answer.p50, r.answer.p95, r.answer.p99, r.answer.max].map(formatMs)),
    '',
    row('answered per second', [r.answeredPerSecond.toFixed(1)]),
    row('4xx', [String(r.status4xx)]),
    row('5xx (not 503)', [String(r.status5xx)]),
    row('503 (queue full)', [String(r.status503)]),
    row('no HTTP answer', [String(r.networkErrors)]),
    row('answers lost', [String(r.lost)]),
    row('answered twice', [String(r.answeredTwice)]),
    row('answered after expiration', [String(r.answeredLate)]),
  ];
  if (r.answerBins.length > 0) lines.push('', theme.dim('answer latency'), ...histogramLines(r.answerBins));
  lines.push('');
  if (r.acknowledged === 0)
    lines.push(theme.fail('no bounty was acknowledged with a 2xx; see the status counts (a 401 means another secret)'));
  else if (!r.ok) {
    const what = [
      r.lost > 0 ? `${r.lost} accepted bount${r.lost === 1 ? 'y was' : 'ies were'} never answered` : '',
      r.answeredTwice > 0 ? `${r.answeredTwice} answered twice` : '',
    ]
      .filter(Boolean)
      .join('; ');
    lines.push(theme.fail(`${what}: every accepted bounty must get exactly one answer before its expiration`));
  } else lines.push(`${theme.pass} every accepted bounty answered exactly once`);
  return lines.join('\n') + '\n';
}

/** The whole report as one JSON document. */
export function loadJson(r: LoadReport, extra: Record<string, unknown> = {}): string {
  const round = (n: number) => Math.round(n * 1000) / 1000;
  const rounded = (s: LoadReport['ack']) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'count' ? v : round(v)]));
  return (
    stringifyJson({
      load: {
        ...extra,
        ...r,
        durationMs: Math.round(r.durationMs),
        sendingMs: Math.round(r.sendingMs),
        answeredPerSecond: Math.round(r.answeredPerSecond * 100) / 100,
        ack: rounded(r.ack),
        answer: rounded(r.answer),
        answerBins: r.answerBins.map((b) => ({ from: round(b.from), to: round(b.to), count: b.count })),
      },
    }) + '\n'
  );
}
