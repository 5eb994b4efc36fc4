/**
 * The inspector page's script (plain ES2020, run as is by the browser): keeps the list live from
 * `/api/events` (EventSource resumes after a drop with `Last-Event-ID`), filters it, shows one transaction, and
 * calls the API to replay, send, export and import. Everything shown is set with textContent, never as HTML.
 */
export const PAGE_SCRIPT = String.raw`
'use strict';
const txs = new Map();
let selected = null;
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v; else if (k.startsWith('on')) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
function nct(wei) {
  const neg = wei.startsWith('-'); const d = wei.replace('-', '').padStart(19, '0');
  const whole = d.slice(0, -18).replace(/^0+(?=\d)/, ''); const frac = d.slice(-18).replace(/0+$/, '');
  return (neg ? '-' : '') + whole + (frac ? '.' + frac : '');
}
function statusClass(s) { return 's' + String(s)[0]; }
function answerText(tx) {
  if (!tx.answer) return tx.bounty && tx.response.status === 202 && !tx.response.duplicate ? 'waiting' : '';
  return tx.answer.delivered ? String(tx.answer.status) : 'failed';
}
function filters() {
  return { event: $('f-event').value, status: $('f-status').value.trim(), verdict: $('f-verdict').value, q: $('f-text').value.trim().toLowerCase() };
}
function matches(tx, f) {
  if (f.event && tx.event !== f.event) return false;
  if (f.status) { const s = String(tx.response.status); if (/^\dxx$/i.test(f.status) ? s[0] !== f.status[0] : s !== f.status) return false; }
  if (f.verdict && ((tx.answer && tx.answer.verdict) || 'none') !== f.verdict) return false;
  if (f.q && !JSON.stringify(tx).toLowerCase().includes(f.q)) return false;
  return true;
}
function render() {
  const f = filters();
  const rows = [...txs.values()].filter((tx) => matches(tx, f)).reverse().map((tx) => {
    const verdict = tx.answer ? tx.answer.verdict : '';
    return el('tr', { class: 'tx' + (tx.id === selected ? ' selected' : ''), 'data-id': tx.id, 'data-testid': 'tx', onclick: () => select(tx.id) },
      el('td', {}, new Date(tx.at).toLocaleTimeString()), el('td', {}, tx.event || '—'),
      el('td', { class: statusClass(tx.response.status), 'data-testid': 'status' }, tx.response.status),
      el('td', {}, tx.response.ackMs === null ? '—' : tx.response.ackMs + ' ms'), el('td', { class: 'v-' + verdict, 'data-testid': 'verdict' }, verdict),
      el('td', { 'data-testid': 'answer' }, answerText(tx)), el('td', {}, tx.bounty || ''), el('td', {}, el('span', { class: 'badge' }, tx.source)));
  });
  $('rows').replaceChildren(...rows);
  if (selected && txs.has(selected)) renderDetail(txs.get(selected));
}
function dl(pairs) {
  const node = el('dl');
  for (const [k, v] of pairs) if (v !== undefined && v !== null && v !== '') node.append(el('dt', {}, k), el('dd', {}, v));
  return node;
}
function section(title, testid, ...children) { return el('section', { 'data-testid': testid }, el('h2', {}, title), ...children); }
async function api(path, options) {
  const res = await fetch(path, options);
  const type = res.headers.get('content-type') || '';
  const body = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) throw new Error(body && body.error ? body.error : 'HTTP ' + res.status);
  return body;
}
function flash(text) { $('engine').textContent = text; }
async function replay(tx, mode, body) {
  try {
    const r = await api('/api/transactions/' + encodeURIComponent(tx.id) + '/replay', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode, body }) });
    flash('replayed (' + mode + '): engine answered ' + r.status);
  } catch (e) { flash('replay failed: ' + e.message); }
}
function renderDetail(tx) {
  const detail = $('detail');
  if (detail.dataset.id === tx.id && detail.dataset.rev === String(tx.rev)) return;
  const editing = detail.dataset.id === tx.id ? detail.querySelector('textarea') : null;
  detail.dataset.id = tx.id; detail.dataset.rev = String(tx.rev);
  const r = tx.response;
  const sig = r.status === 401 || (r.status === 400 && /signature/i.test(r.reason || '')) ? 'refused: ' + (r.reason || '') : r.status < 400 ? 'valid' : 'not reached (' + (r.reason || r.status) + ')';
  const parts = [
    el('div', { class: 'row' },
      el('button', { 'data-testid': 'replay-exact', onclick: () => replay(tx, 'exact') }, 'replay byte for byte'),
      el('button', { 'data-testid': 'replay-resigned', onclick: () => replay(tx, 'resigned') }, 'replay re-signed'),
      el('button', { 'data-testid': 'edit', onclick: () => edit(tx) }, 'edit and replay…'),
      el('button', { 'data-testid': 'curl', onclick: async () => { $('export-out').textContent = await api('/api/transactions/' + encodeURIComponent(tx.id) + '/curl'); } }, 'copy as curl'),
      el('a', { href: '/api/transactions/' + encodeURIComponent(tx.id) + '/bounty', download: '' }, 'bounty file')),
    el('div', { id: 'editor' }), el('pre', { id: 'export-out' }),
    section('request', 'request', dl([['id', tx.id], ['via', tx.source], ['at', tx.at], ['event', tx.event], ['delivery', tx.delivery], ['signature', sig], ['bytes', tx.request.bytes + (tx.request.truncated ? ' (truncated)' : '')]]),
      el('pre', {}, Object.entries(tx.request.headers).map(([k, v]) => k + ': ' + v).join('\n')),
      el('pre', { 'data-testid': 'request-body' }, tx.request.encoding === 'base64' ? '(base64) ' + tx.request.body : tx.request.body)),
    section('engine response', 'response', dl([['status', r.status], ['reason', r.reason], ['ack', r.ackMs === null ? 'by the web process (taken from the queue)' : r.ackMs + ' ms'], ['duplicate', r.duplicate ? 'yes, not queued again' : '']])),
  ];
  if (tx.summary) parts.push(section('bounty', 'bounty', dl([['bounty', tx.bounty], ['phase', tx.summary.phase], ['artifact', tx.summary.artifactType + ' ' + tx.summary.artifactUri], ['sha256', tx.summary.sha256], ['expires', tx.summary.expiration], ['answer to', tx.summary.responseUrl]])));
  if (tx.download) {
    const d = tx.download;
    parts.push(section('artifact download', 'download', dl([['url', d.url], ['result', d.ok ? 'ok' : (d.reason || 'failed')], ['bytes', d.bytes], ['time', d.ms + ' ms'], ['sha256 check', d.sha256Ok === null ? 'nothing to check' : d.sha256Ok ? 'matches' : 'MISMATCH'], ['error', d.error]])));
  }
  if (tx.scan || tx.log) {
    const scan = tx.scan || { ms: null, queueWaitMs: 0 };
    const lines = (tx.log || []).map((l) => l.at.slice(11, 23) + ' ' + l.level.toUpperCase().padEnd(5) + ' ' + l.message + (l.fields ? ' ' + JSON.stringify(l.fields) : '')).join('\n');
    parts.push(section('scan', 'scan', dl([['scan time', scan.ms === null ? 'not scanned (yet)' : scan.ms + ' ms'], ['queue wait', scan.queueWaitMs + ' ms'], ['error', scan.error ? scan.error.kind + ': ' + scan.error.message : '']]),
      scan.error && scan.error.stack ? el('pre', { 'data-testid': 'stack' }, scan.error.stack) : null, lines ? el('pre', { 'data-testid': 'log' }, lines) : null));
  }
  if (tx.answer) {
    const a = tx.answer;
    parts.push(section('answer', 'answer-detail', dl([['verdict', el('span', { class: 'v-' + a.verdict }, a.verdict)], ['kind', a.kind], ['bid', a.kind === 'vote' ? '—' : nct(a.bid) + ' NCT (' + a.bid + ' wei)'], ['comments', a.comments.join(', ')],
      ['receiver', a.delivered ? 'HTTP ' + a.status + ' after ' + a.attempts + ' attempt(s)' : 'not delivered: ' + (a.error || a.status)], ['schema', a.schemaOk ? 'valid' : 'INVALID: ' + (a.schemaErrors || []).join('; ')],
      ['margin', a.marginMs === null ? '' : (a.marginMs / 1000).toFixed(2) + ' s before expiration']]), el('pre', {}, a.body)));
  }
  detail.replaceChildren(...parts);
  if (editing) detail.querySelector('#editor').replaceWith(editing.parentNode);
}
async function edit(tx) {
  const draft = await api('/api/transactions/' + encodeURIComponent(tx.id) + '/draft');
  const area = el('textarea', { 'data-testid': 'edit-body' }); area.value = draft.body;
  $('editor').replaceChildren(el('p', {}, 'Edited bodies are signed with the current secret and sent as they are.'), area,
    el('button', { 'data-testid': 'send-edited', onclick: () => replay(tx, 'edited', area.value) }, 'sign and send'));
}
function select(id) { selected = id; $('detail').dataset.id = ''; render(); }
function connect() {
  const source = new EventSource('/api/events?since=0');
  source.addEventListener('open', () => { $('live').textContent = 'live'; $('live').className = 'on'; });
  source.addEventListener('error', () => { $('live').textContent = 'reconnecting…'; $('live').className = 'off'; });
  source.addEventListener('transaction', (event) => { const tx = JSON.parse(event.data); txs.set(tx.id, tx); scheduleRender(); });
}
let pending = false;
function scheduleRender() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; render(); }); } }
for (const id of ['f-event', 'f-status', 'f-verdict', 'f-text']) $(id).addEventListener('input', render);
$('import').addEventListener('change', async (event) => {
  const file = event.target.files[0]; if (!file) return;
  try { const r = await api('/api/import', { method: 'POST', body: await file.text() }); flash('imported ' + r.imported); } catch (e) { flash('import failed: ' + e.message); }
});
$('send').addEventListener('click', async () => {
  const body = { expirationMs: Number($('send-exp').value) * 1000, phase: $('send-phase').value };
  const useFile = document.querySelector('input[name=artifact]:checked').value === 'file';
  if (useFile) {
    const file = $('send-file').files[0]; if (!file) return flash('choose a file first');
    const bytes = new Uint8Array(await file.arrayBuffer()); let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    body.file = { name: file.name, base64: btoa(bin) };
  }
  try { const r = await api('/api/send', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }); flash('sent: engine answered ' + r.status); } catch (e) { flash('send failed: ' + e.message); }
});
api('/api/transactions').then((r) => flash('engine ' + r.engine)).catch(() => {});
connect();
`;
