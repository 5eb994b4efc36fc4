/**
 * `test corpus --html FILE`: the report as one self-contained page (inline CSS and SVG, no script, nothing fetched:
 * its Content-Security-Policy forbids it), to attach to a CI run. Every number carries an id or data attributes so
 * that a browser test, or a scraper, reads it back exactly.
 */
import { OUTCOMES, type CorpusReport } from './corpus.js';
import { percent } from './corpus-report.js';
import { formatMs } from './stats.js';

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A bar chart of the scan-latency bins, in SVG. */
function latencyChart(bins: CorpusReport['latencyBins']): string {
  if (bins.length === 0) return '<p id="latency-chart-empty">No answers, no latencies.</p>';
  const width = 640;
  const height = 220;
  const pad = { left: 40, bottom: 46, top: 12 };
  const most = Math.max(1, ...bins.map((b) => b.count));
  const slot = (width - pad.left) / bins.length;
  const plot = height - pad.bottom - pad.top;
  const bars = bins
    .map((b, i) => {
      const h = Math.round((b.count / most) * plot);
      const x = pad.left + i * slot + 2;
      const y = pad.top + plot - h;
      const label = `${formatMs(b.from)}–${formatMs(b.to)}`;
      return (
        `<rect class="bar" x="${x.toFixed(1)}" y="${y}" width="${(slot - 4).toFixed(1)}" height="${h}" data-from="${b.from}" data-to="${b.to}" data-count="${b.count}"><title>${esc(label)}: ${b.count}</title></rect>` +
        `<text class="count" x="${(x + (slot - 4) / 2).toFixed(1)}" y="${y - 3}">${b.count}</text>` +
        `<text class="tick" transform="translate(${(x + (slot - 4) / 2).toFixed(1)},${height - pad.bottom + 12}) rotate(30)">${esc(formatMs(b.from))}</text>`
      );
    })
    .join('');
  return (
    `<svg id="latency-chart" role="img" aria-label="scan latency histogram" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">` +
    `<line x1="${pad.left}" y1="${pad.top + plot}" x2="${width}" y2="${pad.top + plot}" class="axis"/>${bars}</svg>`
  );
}

export function corpusHtml(r: CorpusReport, meta: { engine: string; corpus: string; generatedAt?: Date }): string {
  const cells = (truth: 'malicious' | 'benign') =>
    OUTCOMES.map((o) => {
      const right = o === truth;
      const wrong = (o === 'malicious' || o === 'benign') && !right;
      return `<td data-truth="${truth}" data-outcome="${o}" class="${right ? 'right' : wrong ? 'wrong' : ''}">${r.matrix[truth][o]}</td>`;
    }).join('');
  const stat = (id: string, label: string, value: string, raw: string | number | null) =>
    `<dt>${esc(label)}</dt><dd id="${id}" data-value="${raw === null ? '' : esc(String(raw))}">${esc(value)}</dd>`;
  const list = (id: string, items: string[], empty: string) =>
    items.length === 0 ? `<p id="${id}">${esc(empty)}</p>` : `<ol id="${id}">${items.join('')}</ol>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>polyswarm-engine test corpus: ${esc(percent(r.detectionRate))} detection, ${esc(percent(r.falsePositiveRate))} false positives</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #1d2330; padding: 0 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; } th, td { border: 1px solid #ccd; padding: .35rem .7rem; text-align: right; }
th { background: #f1f3f8; } td.right { background: #e3f5e6; } td.wrong { background: #fbe3e3; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1.2rem; } dt { color: #556; } dd { margin: 0; font-weight: 600; }
svg .bar { fill: #4a6fd1; } svg .count { font-size: 10px; text-anchor: middle; } svg .tick { font-size: 10px; } svg .axis { stroke: #889; }
.meta { color: #667; }
</style>
</head>
<body>
<h1>Corpus report</h1>
<p class="meta">Engine <code id="engine">${esc(meta.engine)}</code>, corpus <code id="corpus">${esc(meta.corpus)}</code>, <span id="files" data-value="${r.files}">${r.files}</span> files${meta.generatedAt ? `, ${esc(meta.generatedAt.toISOString())}` : ''}.</p>
<h2>Confusion matrix</h2>
<table id="matrix">
<thead><tr><th>truth \\ answer</th>${OUTCOMES.map((o) => `<th scope="col">${o}</th>`).join('')}</tr></thead>
<tbody>
<tr><th scope="row">malicious</th>${cells('malicious')}</tr>
<tr><th scope="row">benign</th>${cells('benign')}</tr>
</tbody>
</table>
<h2>Rates</h2>
<dl id="rates">
${stat('detection-rate', 'detection rate', percent(r.detectionRate), r.detectionRate)}
${stat('false-positive-rate', 'false-positive rate', percent(r.falsePositiveRate), r.falsePositiveRate)}
${stat('unknown-rate', 'unknown rate', percent(r.unknownRate), r.unknownRate)}
${stat('timeouts', 'timeouts', String(r.timeouts), r.timeouts)}
${stat('missing', 'missing answers', String(r.missing), r.missing)}
${stat('bids-right', 'bids on right assertions', `${r.bidsRightNct} NCT`, r.bidsRightNct)}
${stat('bids-wrong', 'bids on wrong assertions', `${r.bidsWrongNct} NCT`, r.bidsWrongNct)}
</dl>
<h2>Scan latency</h2>
<dl id="latency">
${stat('latency-p50', 'p50', formatMs(r.latency.p50), r.latency.p50)}
${stat('latency-p95', 'p95', formatMs(r.latency.p95), r.latency.p95)}
${stat('latency-p99', 'p99', formatMs(r.latency.p99), r.latency.p99)}
${stat('latency-max', 'max', formatMs(r.latency.max), r.latency.max)}
</dl>
<p class="meta">Files per scan-latency range (202 → answer), ranges on a log scale.</p>
${latencyChart(r.latencyBins)}
<h2>Slowest files</h2>
${list(
  'slowest',
  r.slowest.map((s) => `<li data-ms="${s.latencyMs}">${esc(s.name)} <span>${esc(formatMs(s.latencyMs))}</span></li>`),
  'None answered.',
)}
<h2>Misjudged files</h2>
${list(
  'misjudged',
  r.misjudged.map((m) => `<li data-truth="${m.truth}" data-outcome="${m.outcome}">${esc(m.name)}: ${m.truth}, answered ${m.outcome}</li>`),
  'None.',
)}
<h2>Answered unknown</h2>
${list(
  'unknowns',
  r.unknowns.map((u) => `<li data-truth="${u.truth}">${esc(u.name)}: ${u.truth}, <span class="reason">${esc(u.reason)}</span></li>`),
  'None.',
)}
</body>
</html>
`;
}
