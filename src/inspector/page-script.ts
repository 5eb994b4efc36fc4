/**
 * The inspector page's script (plain ES2020, run as is by the browser): keeps the list live from
 * `/api/events` (EventSource resumes after a drop with `Last-Event-ID`), filters it, shows one transaction
 * (page/detail.ts), and calls the API to replay, send, export and import. Everything shown is set with textContent,
 * never as HTML: transactions are what anyone could send to the engine.
 */
import { DETAIL_SCRIPT } from './page/detail.js';

const LIST_SCRIPT = String.raw`
const txs = new Map();
let selected = null;
/** A replay or a new bounty just sent: its transaction is selected when it arrives (ids known before it was sent). */
let follow = null;
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === undefined || v === null) continue;
    if (k === 'class') node.className = v; else if (k.startsWith('on')) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
function nct(wei) {
  const neg = wei.startsWith('-'); const d = wei.replace('-', '').padStart(19, '0');
  const whole = d.slice(0, -18).replace(/^0+(?=\d)/, ''); const frac = d.slice(-18).replace(/0+$/, '');
  return (neg ? '-' : '') + whole + (frac ? '.' + frac : '');
}
function ms(n) { return (n < 10 ? n.toFixed(1) : String(Math.round(n))) + ' ms'; }
/** A duration for people: seconds to the hundredth under a minute, then minutes, hours, days. */
function secs(n) {
  const s = Math.abs(n) / 1000;
  return s < 60 ? s.toFixed(2) + ' s' : s < 3600 ? Math.round(s / 60) + ' min' : s < 86400 ? Math.round(s / 3600) + ' h' : Math.round(s / 86400) + ' days';
}
/** Time left before the expiration when answered, or now when still waiting. */
function margin(tx) {
  if (tx.answer && tx.answer.marginMs !== null) return tx.answer.marginMs >= 0 ? secs(tx.answer.marginMs) + ' before expiry' : secs(tx.answer.marginMs) + ' late';
  if (!tx.summary || tx.answer) return '';
  const left = Date.parse(tx.summary.expiration) - Date.now();
  return left > 0 ? 'expires in ' + Math.ceil(left / 1000) + ' s' : 'expired ' + secs(left) + ' ago';
}
function out(kind, title, reason, label) { return { kind, label: label || kind, title, reason: reason || '' }; }
/** What became of a transaction, as a badge: refused, duplicate, error, the verdict, undelivered, waiting, expired. */
function outcome(tx) {
  const r = tx.response;
  const a = tx.answer;
  const err = tx.scan && tx.scan.error;
  if (r.status >= 400) return out('refused', 'the engine refused it (' + r.status + ')', r.reason || 'HTTP ' + r.status);
  if (r.duplicate) return out('duplicate', 'already seen: acknowledged, not scanned again', 'the engine had this bounty already (docs/protocol.md §13)');
  if (err) return out('error', 'the scan failed' + (a ? '; answered ' + a.verdict : ''), err.kind + ': ' + err.message);
  if (a && !a.delivered) return out('undelivered', 'answered ' + a.verdict + ', not delivered', a.error || 'HTTP ' + a.status, a.verdict + ' ✗');
  if (a) {
    const reason = a.schemaOk ? a.comments.join(', ') : 'answer INVALID: ' + (a.schemaErrors || []).join('; ');
    return out(a.verdict, 'answered ' + a.verdict + ' (HTTP ' + a.status + ')', reason);
  }
  if (!tx.summary || r.status !== 202) return out('ok', 'acknowledged ' + r.status, r.reason, tx.event === 'ping' ? 'pong' : 'ok');
  const expiry = Date.parse(tx.summary.expiration);
  if (expiry > Date.now()) return out('waiting', 'accepted, the answer is not posted yet');
  const late = expiry <= Date.parse(tx.at) ? 'it had expired when it arrived (accepted, not scanned): ' : '';
  return out('expired', 'no answer before the expiration', late + 'no answer was posted before ' + tx.summary.expiration);
}
function badge(o) { return el('span', { class: 'badge b-' + o.kind, 'data-testid': 'badge', title: o.title }, o.label); }
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
  const shown = [...txs.values()].filter((tx) => matches(tx, f)).reverse();
  const rows = shown.map((tx) => {
    const o = outcome(tx);
    const answer = tx.answer ? (tx.answer.delivered ? String(tx.answer.status) : 'failed') : o.kind === 'waiting' ? 'waiting' : '';
    return el('tr', { class: 'tx' + (tx.id === selected ? ' selected' : ''), 'data-id': tx.id, 'data-testid': 'tx', 'data-outcome': o.kind, 'data-answer': answer, onclick: () => select(tx.id) },
      el('td', { title: tx.at }, new Date(tx.at).toLocaleTimeString([], { hour12: false })), el('td', {}, tx.event || '—'),
      el('td', { class: 's' + String(tx.response.status)[0], 'data-testid': 'status', title: tx.response.reason || '' }, tx.response.status),
      el('td', {}, tx.response.ackMs === null ? '—' : ms(tx.response.ackMs)),
      el('td', { 'data-testid': 'verdict', 'data-verdict': tx.answer ? tx.answer.verdict : '' }, badge(o)),
      el('td', { class: 'mono', title: tx.bounty || '' }, tx.bounty || ''), el('td', { class: 'dim', 'data-testid': 'via' }, tx.source));
  });
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 7, class: 'empty' }, txs.size ? 'No transaction matches the filters.' : 'Nothing yet.')));
  $('rows').replaceChildren(...rows);
  const tx = selected && txs.get(selected);
  if (tx) { renderDetail(tx); const m = $('margin'); if (m) m.textContent = margin(tx) || '—'; } else empty(shown.length);
}
function empty(listed) {
  const detail = $('detail');
  const text = txs.size === 0
    ? 'Nothing yet. Send a bounty (npx polyswarm-engine test bounty --eicar, or “send a bounty” above) and it appears here.'
    : 'Select a transaction in the list (' + listed + ' listed) to see its summary, its timeline and its bodies.';
  if (detail.dataset.key === text) return;
  detail.dataset.key = text; detail.dataset.id = '';
  detail.replaceChildren(el('p', { 'data-testid': 'empty' }, text));
}
async function api(path, options) {
  const res = await fetch(path, options);
  const type = res.headers.get('content-type') || '';
  const body = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) throw new Error(body && body.error ? body.error : 'HTTP ' + res.status);
  return body;
}
function flash(text) { $('flash').textContent = text; }
/** POSTs a replay or a new bounty; the transaction it makes is selected as soon as it is listed. */
async function post(path, body, what) {
  const known = new Set(txs.keys());
  try {
    const r = await api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    flash(what + ': engine answered ' + r.status);
    follow = { delivery: r.delivery, known };
    for (const tx of txs.values()) followed(tx);
  } catch (e) { flash(what + ' failed: ' + e.message); }
}
function followed(tx) {
  if (follow && tx.delivery === follow.delivery && !follow.known.has(tx.id)) { follow = null; select(tx.id); }
}
function replay(tx, mode, body) { return post('/api/transactions/' + encodeURIComponent(tx.id) + '/replay', { mode, body }, 'replayed (' + mode + ')'); }
async function edit(tx) {
  const draft = await api('/api/transactions/' + encodeURIComponent(tx.id) + '/draft');
  const area = el('textarea', { 'data-testid': 'edit-body' }); area.value = draft.body;
  $('editor').replaceChildren(el('p', {}, 'Edited bodies are signed with the current secret and sent as they are.'), area,
    el('button', { 'data-testid': 'send-edited', onclick: () => replay(tx, 'edited', area.value) }, 'sign and send'));
}
/** Copies the curl command: the Clipboard API where the page is a secure context, else a selected textarea. */
async function copyCurl(tx) {
  let text;
  try { text = await api('/api/transactions/' + encodeURIComponent(tx.id) + '/curl'); } catch (e) { return flash('copy as curl failed: ' + e.message); }
  try { await navigator.clipboard.writeText(text); return flash('curl command copied (' + text.length + ' characters)'); } catch { /* below */ }
  const area = el('textarea', { class: 'vh', readonly: true }); area.value = text; document.body.append(area); area.select();
  const copied = document.execCommand('copy'); area.remove();
  if (copied) return flash('curl command copied (' + text.length + ' characters)');
  const out = $('out'); out.hidden = false; out.textContent = text;
  flash('the browser refused the clipboard: the command is below, select and copy it');
}
function select(id) { selected = id; render(); }
function connect() {
  const source = new EventSource('/api/events?since=0');
  source.addEventListener('open', () => { $('live').textContent = 'live'; $('live').className = 'on'; });
  source.addEventListener('error', () => { $('live').textContent = 'reconnecting…'; $('live').className = 'off'; });
  source.addEventListener('transaction', (event) => { const tx = JSON.parse(event.data); txs.set(tx.id, tx); followed(tx); scheduleRender(); });
}
let pending = false;
function scheduleRender() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; render(); }); } }
// A bounty waiting for its answer turns to expired by the clock alone, and its margin counts down: the list is
// drawn again only when a listed row's outcome changed, the selected margin is set in place.
setInterval(() => {
  const tx = selected && txs.get(selected); const m = $('margin');
  if (tx && m) m.textContent = margin(tx) || '—';
  for (const row of document.querySelectorAll('#rows tr[data-outcome=waiting]')) {
    const waiting = txs.get(row.dataset.id);
    if (waiting && outcome(waiting).kind !== 'waiting') return scheduleRender();
  }
}, 1000);
for (const id of ['f-event', 'f-status', 'f-verdict', 'f-text']) $(id).addEventListener('input', render);
document.addEventListener('keydown', (event) => {
  if (!['ArrowDown', 'ArrowUp', 'j', 'k'].includes(event.key) || event.target.closest('input, textarea, select')) return;
  const ids = [...document.querySelectorAll('#rows tr.tx')].map((tr) => tr.dataset.id);
  const next = ids[ids.indexOf(selected) + (event.key === 'ArrowDown' || event.key === 'j' ? 1 : -1)] || ids[0];
  if (next) { event.preventDefault(); select(next); document.querySelector('#rows tr.selected').scrollIntoView({ block: 'nearest' }); }
});
$('import').addEventListener('change', async (event) => {
  const file = event.target.files[0]; if (!file) return;
  try { const r = await api('/api/import', { method: 'POST', body: await file.text() }); flash('imported ' + r.imported); } catch (e) { flash('import failed: ' + e.message); }
});
$('send').addEventListener('click', async () => {
  const body = { expirationMs: Number($('send-exp').value) * 1000, phase: $('send-phase').value };
  if (document.querySelector('input[name=artifact]:checked').value === 'file') {
    const file = $('send-file').files[0]; if (!file) return flash('choose a file first');
    const bytes = new Uint8Array(await file.arrayBuffer()); let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    body.file = { name: file.name, base64: btoa(bin) };
  }
  $('send-box').open = false;
  await post('/api/send', body, 'sent');
});
api('/api/transactions').then((r) => { $('engine').textContent = 'engine ' + r.engine; }).catch(() => {});
render();
connect();
`;

/** Functions first (the detail's class must exist before the list's last lines run), then the list, which starts it all. */
export const PAGE_SCRIPT = `'use strict';${DETAIL_SCRIPT}${LIST_SCRIPT}`;
