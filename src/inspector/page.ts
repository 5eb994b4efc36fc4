/**
 * The inspector's page: one HTML document with its style and script inline, served by server.ts. No build step,
 * no framework, nothing from a CDN: it works offline. It reads the JSON API and the live stream like any script.
 * Laid out like ngrok's inspector: a narrow list that never scrolls sideways, and a detail that opens with what one
 * came for (the outcome) before the timeline of the bounty. Light or dark as the system says.
 */
import { PAGE_SCRIPT } from './page-script.js';

const STYLE = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1d2330; --dim: #667085; --line: #e4e7ec; --panel: #f8f9fb; --sel: #e6efff;
  --accent: #1f5fd6; --red: #c0281b; --green: #08784a; --amber: #a15c07; --grey: #5d6779; --orange: #b93815; --purple: #5a32c8; --blue: #1f5fd6;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #15181e; --fg: #e4e7ec; --dim: #98a2b3; --line: #2c313a; --panel: #1b1f26; --sel: #1d2b45;
    --accent: #7aa7ff; --red: #ff7a6e; --green: #4bd394; --amber: #f5b946; --grey: #a6b0c0; --orange: #ff9a62; --purple: #b59cff; --blue: #7aa7ff; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.45 system-ui, sans-serif; background: var(--bg); color: var(--fg); display: grid; grid-template-rows: auto 1fr; height: 100vh; }
a { color: var(--accent); }
button, .btn { font: inherit; font-size: 12px; color: var(--fg); background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 3px 9px; cursor: pointer; text-decoration: none; white-space: nowrap; }
button:hover, .btn:hover { border-color: var(--dim); }
input, select { font: inherit; font-size: 12px; color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 3px 6px; }
header { display: flex; gap: 8px 14px; align-items: center; padding: 8px 14px; border-bottom: 1px solid var(--line); flex-wrap: wrap; background: var(--panel); }
header h1 { font-size: 14px; margin: 0; }
.group { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.dim { color: var(--dim); } .mono { font-family: var(--mono); font-size: 12px; }
#live::before { content: '●'; margin-right: 4px; } #live.on { color: var(--green); } #live.off { color: var(--red); }
#flash { margin-left: auto; color: var(--dim); font-size: 12px; }
#send-box { position: relative; } #send-box > summary { list-style: none; }
#send-box > div { position: absolute; right: 0; top: 30px; z-index: 2; display: grid; gap: 6px; padding: 10px; width: 280px;
  background: var(--bg); border: 1px solid var(--line); border-radius: 8px; box-shadow: 0 6px 20px #0003; }
.vh { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
main { display: grid; grid-template-columns: clamp(600px, 45%, 720px) minmax(0, 1fr); min-height: 0; }
#list { overflow: hidden auto; border-right: 1px solid var(--line); }
#list table { width: 100%; table-layout: fixed; border-collapse: collapse; }
#list th { position: sticky; top: 0; background: var(--panel); font-weight: 500; color: var(--dim); font-size: 11px; text-transform: uppercase; letter-spacing: .03em; }
#list td, #list th { padding: 5px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; text-align: left; }
#list td:first-child, #list th:first-child { padding-left: 12px; }
#list tr.tx { cursor: pointer; } #list tr.tx:hover { background: var(--panel); } #list tr.selected, #list tr.selected:hover { background: var(--sel); }
#list .empty { padding: 24px 12px; color: var(--dim); }
.s2 { color: var(--green); } .s4, .s5 { color: var(--red); font-weight: 600; }
.badge { --c: var(--grey); display: inline-block; font-size: 11px; font-weight: 600; line-height: 18px; padding: 0 7px; border-radius: 9px; color: var(--c);
  background: color-mix(in srgb, var(--c) 14%, transparent); max-width: 100%; overflow: hidden; text-overflow: ellipsis; vertical-align: middle; }
.b-malicious, .b-refused, .b-undelivered { --c: var(--red); } .b-benign, .b-ok { --c: var(--green); } .b-suspicious { --c: var(--amber); }
.b-unknown, .b-none { --c: var(--grey); } .b-error { --c: var(--red); color: #fff; background: var(--red); } .b-expired { --c: var(--orange); }
.b-duplicate { --c: var(--purple); } .b-waiting { --c: var(--blue); }
.v-malicious { color: var(--red); } .v-benign { color: var(--green); } .v-suspicious { color: var(--amber); } .v-unknown { color: var(--grey); }
#detail { overflow: auto; padding: 14px 18px 40px; min-width: 0; }
#detail > p { color: var(--dim); margin: 40px auto; max-width: 460px; text-align: center; }
.bar { display: flex; gap: 6px; flex-wrap: wrap; align-items: center; margin-bottom: 12px; }
.bar h2 { font-size: 15px; margin: 0 8px 0 0; font-weight: 600; }
.summary { border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; margin-bottom: 14px; background: var(--panel); }
.summary .badge { font-size: 13px; line-height: 22px; padding: 0 10px; border-radius: 11px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px 16px; margin: 10px 0 0; }
.facts dt { color: var(--dim); font-size: 11px; text-transform: uppercase; letter-spacing: .03em; } .facts dd { margin: 0; font-weight: 500; overflow-wrap: anywhere; }
.facts .wide { grid-column: 1 / -1; }
.step { border-left: 2px solid var(--line); margin: 0 0 0 6px; padding: 0 0 10px 14px; position: relative; }
.step::before { content: ''; position: absolute; left: -6px; top: 6px; width: 10px; height: 10px; border-radius: 50%; background: var(--c, var(--grey)); }
.step.ok { --c: var(--green); } .step.bad { --c: var(--red); } .step.pending { --c: var(--blue); } .step.late { --c: var(--orange); }
.step > summary { cursor: pointer; list-style: none; } .step > summary::-webkit-details-marker { display: none; }
.step > summary b { display: inline-block; min-width: 78px; text-transform: capitalize; }
.step > summary .dim { overflow-wrap: anywhere; }
.step[open] > summary { margin-bottom: 6px; }
dl.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 12px; margin: 0 0 6px; } dl.kv dt { color: var(--dim); } dl.kv dd { margin: 0; overflow-wrap: anywhere; }
pre, .json, .log { font-family: var(--mono); font-size: 12px; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; margin: 4px 0 8px; max-height: 420px; overflow: auto; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.json { padding-left: 18px; } .json details { padding-left: 14px; } .json > details { padding-left: 0; } .json summary { cursor: pointer; margin-left: -12px; }
.json .leaf { padding-left: 14px; overflow-wrap: anywhere; } .json > .leaf { padding-left: 0; }
.json details[open] > summary .jc { display: none; } .json details:not([open]) > .close { display: none; }
.jk { color: var(--purple); } .js { color: var(--green); } .jn { color: var(--blue); } .jl { color: var(--orange); } .jc { color: var(--dim); }
.log { white-space: pre-wrap; overflow-wrap: anywhere; display: grid; grid-template-columns: max-content max-content minmax(0, 1fr); gap: 1px 10px; }
.lv-error { color: var(--red); } .lv-warn { color: var(--amber); }
textarea { width: 100%; min-height: 200px; font: 12px var(--mono); color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: 6px; }
`;

const BODY = `
<header>
  <div class="group"><h1>polyswarm-engine inspector</h1><span id="live" class="off" data-testid="live">connecting…</span><span id="engine" class="dim mono"></span></div>
  <div class="group">
    <select id="f-event" aria-label="event"><option value="">all events</option><option>bounty</option><option>ping</option><option>GET</option></select>
    <input id="f-status" placeholder="status (202, 4xx)" size="11" aria-label="status">
    <select id="f-verdict" aria-label="verdict"><option value="">any verdict</option><option>malicious</option><option>benign</option><option>suspicious</option><option>unknown</option><option value="none">no answer</option></select>
    <input id="f-text" type="search" placeholder="search" size="14" aria-label="search">
  </div>
  <div class="group">
    <a class="btn" href="/api/export.jsonl" download>export JSONL</a>
    <a class="btn" href="/api/export.har" download>export HAR</a>
    <label class="btn">import JSONL<input type="file" id="import" class="vh" accept=".jsonl,.json,application/x-ndjson"></label>
    <details id="send-box"><summary class="btn">send a bounty ▾</summary>
      <div>
        <label><input type="radio" name="artifact" value="eicar" checked> EICAR</label>
        <label><input type="radio" name="artifact" value="file"> file <input type="file" id="send-file"></label>
        <label>expires in <input id="send-exp" type="number" value="30" min="1" max="3600" size="4"> s</label>
        <label>phase <select id="send-phase"><option>assertion</option><option>arbitration</option></select></label>
        <button id="send" data-testid="send">send</button>
      </div>
    </details>
  </div>
  <span id="flash" role="status" aria-live="polite" data-testid="flash"></span>
</header>
<main>
  <div id="list" data-testid="list"><table><colgroup><col style="width:80px"><col style="width:58px"><col style="width:60px"><col style="width:62px"><col style="width:96px"><col><col style="width:100px"></colgroup>
    <thead><tr><th>time</th><th>event</th><th>status</th><th>ack</th><th>outcome</th><th>bounty</th><th>via</th></tr></thead><tbody id="rows"></tbody></table></div>
  <div id="detail" data-testid="detail"></div>
</main>
`;

export function inspectorPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>polyswarm-engine inspector</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body>${BODY}<script>${PAGE_SCRIPT}</script></body></html>
`;
}
