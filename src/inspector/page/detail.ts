/**
 * The inspector page's detail pane (part of the page's script, see page-script.ts): a summary of what one came for
 * (outcome, verdict, bid, family, reason, margin before the expiration), then the bounty's timeline — request,
 * acknowledgement, download, scan, answer — each step a collapsible line; JSON bodies pretty-printed as collapsible
 * trees. Everything from a transaction is set as text, never parsed as HTML: the bodies come from whoever sent them.
 */
export const DETAIL_SCRIPT = String.raw`
/** A JSON number kept as written: a bid in wei does not survive a trip through a double. */
class Num { constructor(raw) { this.raw = raw; } }
function parseJson(text) {
  try { return { ok: true, value: JSON.parse(text, (k, v, ctx) => typeof v === 'number' ? new Num(ctx && ctx.source !== undefined ? ctx.source : String(v)) : v) }; } catch { return { ok: false }; }
}
function jsonNode(value, key, depth) {
  const label = key === undefined ? null : el('span', { class: 'jk' }, JSON.stringify(key) + ': ');
  const leaf = (cls, text) => el('div', { class: 'leaf' }, label, el('span', { class: cls }, text));
  if (value instanceof Num) return leaf('jn', value.raw);
  if (value === null || typeof value === 'boolean') return leaf('jl', String(value));
  if (typeof value === 'string') return leaf('js', JSON.stringify(value));
  const array = Array.isArray(value);
  const entries = array ? value.map((v) => [undefined, v]) : Object.entries(value);
  if (entries.length === 0) return leaf('jc', array ? '[]' : '{}');
  return el('details', { open: depth < 3 },
    el('summary', {}, label, array ? '[' : '{', el('span', { class: 'jc' }, ' ' + entries.length + (array ? ' items ]' : ' keys }'))),
    ...entries.map(([k, v]) => jsonNode(v, k, depth + 1)), el('div', { class: 'close' }, array ? ']' : '}'));
}
/** A body: a JSON tree when it parses, else the text as it is. */
function body(text, testid, encoding) {
  if (encoding === 'base64') return el('pre', { 'data-testid': testid }, '(base64) ' + text);
  const parsed = text ? parseJson(text) : { ok: false };
  return parsed.ok && typeof parsed.value === 'object' && parsed.value !== null
    ? el('div', { class: 'json', 'data-testid': testid }, jsonNode(parsed.value, undefined, 0))
    : el('pre', { 'data-testid': testid }, text || '(empty)');
}
function kv(pairs) {
  const node = el('dl', { class: 'kv' });
  for (const [k, v] of pairs) if (v !== undefined && v !== null && v !== '') node.append(el('dt', {}, k), el('dd', {}, v));
  return node;
}
function family(tx) {
  const parsed = tx.answer ? parseJson(tx.answer.body) : { ok: false };
  const f = parsed.ok && parsed.value && parsed.value.metadata ? parsed.value.metadata.malware_family : '';
  return typeof f === 'string' ? f : '';
}
function signature(r) {
  if (r.status === 401 || (r.status === 400 && /signature/i.test(r.reason || ''))) return 'refused: ' + (r.reason || '');
  return r.status < 400 ? 'valid' : 'not reached (' + (r.reason || r.status) + ')';
}
function summary(tx, o) {
  const a = tx.answer;
  const facts = [
    ['verdict', a ? el('span', { class: 'v-' + a.verdict }, a.verdict) : '—'],
    ['bid', a ? (a.kind === 'vote' ? 'vote (no bid)' : nct(a.bid) + ' NCT') : '—'],
    ['family', family(tx) || '—'],
    ['margin', el('span', { id: 'margin' }, margin(tx) || '—')],
    ['status', tx.response.status + (tx.response.ackMs === null ? '' : ' in ' + ms(tx.response.ackMs))],
    ['reason', o.reason || '—'],
  ];
  const list = el('dl', { class: 'facts' });
  for (const [k, v] of facts) list.append(el('div', { class: k === 'reason' ? 'wide' : '', 'data-fact': k }, el('dt', {}, k), el('dd', {}, v)));
  return el('section', { class: 'summary', 'data-testid': 'summary' }, badge(o), ' ', el('span', { class: 'dim' }, o.title), list);
}
function step(name, testid, state, line, ...children) {
  return el('details', { class: 'step ' + state, 'data-testid': testid, 'data-step': name },
    el('summary', {}, el('b', {}, name), ' ', el('span', { class: 'dim' }, line)), ...children);
}
function logView(tx) {
  // The scan error's stack is shown once, above; a log line that repeats it (the engine logs 'scan failed' with it) says so.
  const stack = tx.scan && tx.scan.error && tx.scan.error.stack;
  const rows = [];
  for (const l of tx.log || []) {
    const fields = Object.entries(l.fields || {}).map(([k, v]) => k + '=' + (stack && v === stack ? '(the stack above)' : typeof v === 'string' ? v : JSON.stringify(v)));
    rows.push(el('span', { class: 'dim' }, l.at.slice(11, 23)), el('span', { class: 'lv-' + l.level }, l.level.toUpperCase()), el('span', {}, [l.message, ...fields].join(' ')));
  }
  return rows.length ? el('div', { class: 'log', 'data-testid': 'log' }, ...rows) : null;
}
function requestStep(tx) {
  const q = tx.request;
  const s = tx.summary;
  const headers = Object.entries(q.headers).map(([k, v]) => k + ': ' + v).join('\n');
  return step('request', 'request', 'ok', [tx.event || 'no event', q.bytes + ' B', 'signature ' + signature(tx.response)].join(' · '),
    kv([['id', tx.id], ['via', tx.source], ['at', tx.at], ['delivery', tx.delivery], ['bytes', q.bytes + (q.truncated ? ' (truncated)' : '')]]),
    s ? el('div', { 'data-testid': 'bounty' }, kv([['bounty', tx.bounty], ['phase', s.phase], ['artifact', s.artifactType + ' ' + s.artifactUri],
      ['sha256', s.sha256], ['expires', s.expiration], ['answer to', s.responseUrl]])) : null,
    el('pre', {}, headers || '(no headers: taken from the queue)'), body(q.body, 'request-body', q.encoding));
}
function ackStep(r) {
  const ack = r.ackMs === null ? 'by the web process (taken from the queue)' : ms(r.ackMs);
  const line = r.status + (r.reason ? ' ' + r.reason : '') + (r.ackMs === null ? ' · by the web process' : ' in ' + ack) + (r.duplicate ? ' · duplicate, not queued again' : '');
  return step('ack', 'response', r.status < 400 ? 'ok' : 'bad', line,
    kv([['status', r.status], ['reason', r.reason], ['ack', ack], ['duplicate', r.duplicate ? 'yes, not queued again' : '']]));
}
function downloadStep(d) {
  const check = d.sha256Ok === null ? 'nothing to check' : d.sha256Ok ? 'matches' : 'MISMATCH';
  const result = d.ok ? 'ok' : d.reason || 'failed';
  return step('download', 'download', d.ok && d.sha256Ok !== false ? 'ok' : 'bad', [result, d.bytes + ' B in ' + d.ms + ' ms', 'sha256 ' + check].join(' · '),
    kv([['url', d.url], ['result', result], ['bytes', d.bytes], ['time', d.ms + ' ms'], ['sha256 check', check], ['error', d.error]]));
}
function scanStep(tx) {
  const scan = tx.scan || { ms: null, queueWaitMs: 0 };
  const err = scan.error ? scan.error.kind + ': ' + scan.error.message : '';
  const time = scan.ms === null ? 'not scanned (yet)' : scan.ms + ' ms';
  return step('scan', 'scan', err ? 'bad' : scan.ms === null ? 'pending' : 'ok', err || (scan.ms === null ? time : time + ' (queue wait ' + scan.queueWaitMs + ' ms)'),
    kv([['scan time', time], ['queue wait', scan.queueWaitMs + ' ms'], ['error', err]]),
    scan.error && scan.error.stack ? el('pre', { 'data-testid': 'stack' }, scan.error.stack) : null, logView(tx));
}
function answerStep(tx) {
  const a = tx.answer;
  if (!a) {
    const expired = outcome(tx).kind === 'expired';
    return step('answer', 'answer-detail', expired ? 'late' : 'pending', expired ? 'none before the expiration' : 'waiting: ' + margin(tx));
  }
  const receiver = a.delivered ? 'HTTP ' + a.status + ' after ' + a.attempts + ' attempt(s)' : 'not delivered: ' + (a.error || a.status);
  return step('answer', 'answer-detail', a.delivered && a.schemaOk ? 'ok' : 'bad', [a.verdict, a.delivered ? 'HTTP ' + a.status : 'not delivered', margin(tx)].join(' · '),
    kv([['verdict', el('span', { class: 'badge b-' + a.verdict }, a.verdict)], ['kind', a.kind], ['bid', a.kind === 'vote' ? '—' : nct(a.bid) + ' NCT (' + a.bid + ' wei)'],
      ['comments', a.comments.join(', ')], ['receiver', receiver], ['schema', a.schemaOk ? 'valid' : 'INVALID: ' + (a.schemaErrors || []).join('; ')], ['margin', margin(tx)]]),
    body(a.body, 'answer-body'));
}
/** The steps a transaction went through; an accepted bounty always ends with its answer (or why there is none). */
function timeline(tx) {
  const r = tx.response;
  const steps = [requestStep(tx), ackStep(r)];
  if (tx.download) steps.push(downloadStep(tx.download));
  if (tx.scan || tx.log) steps.push(scanStep(tx));
  if (tx.answer || (tx.summary && r.status === 202 && !r.duplicate)) steps.push(answerStep(tx));
  return el('div', { class: 'timeline', 'data-testid': 'timeline' }, ...steps);
}
/** Opens the steps that matter: the answer, and any step that went wrong. */
function openSteps(node, before) {
  for (const d of node.querySelectorAll('.step')) {
    const kept = before ? before.get(d.dataset.step) : undefined;
    d.open = kept !== undefined ? kept : d.dataset.step === 'answer' || d.classList.contains('bad');
  }
}
function renderDetail(tx) {
  const detail = $('detail');
  const o = outcome(tx);
  const key = tx.id + ':' + tx.rev + ':' + o.kind;
  if (detail.dataset.key === key) return;
  const same = detail.dataset.id === tx.id;
  const editing = same ? detail.querySelector('#editor') : null;
  const before = same ? new Map([...detail.querySelectorAll('.step')].map((d) => [d.dataset.step, d.open])) : null;
  detail.dataset.key = key; detail.dataset.id = tx.id;
  const id = encodeURIComponent(tx.id);
  const bar = el('div', { class: 'bar' },
    el('h2', {}, (tx.event || 'request') + (tx.bounty ? ' ' + tx.bounty : '')),
    el('button', { 'data-testid': 'replay-exact', title: 'the recorded bytes and signature, as they came', onclick: () => replay(tx, 'exact') }, 'replay byte for byte'),
    el('button', { 'data-testid': 'replay-resigned', title: 'a new id and expiration, signed with the current secret', onclick: () => replay(tx, 'resigned') }, 'replay re-signed'),
    el('button', { 'data-testid': 'edit', onclick: () => edit(tx) }, 'edit and replay…'),
    el('button', { 'data-testid': 'curl', onclick: () => copyCurl(tx) }, 'copy as curl'),
    el('a', { class: 'btn', href: '/api/transactions/' + id + '/bounty', download: '' }, 'bounty file'));
  const line = timeline(tx);
  openSteps(line, before);
  detail.replaceChildren(bar, editing || el('div', { id: 'editor' }), el('pre', { id: 'out', hidden: true }), summary(tx, o), line);
}
`;
