/**
 * The inspector's page: one HTML document with its style and script inline, served by server.ts. No build step,
 * no framework, nothing from a CDN: it works offline. It reads the JSON API and the live stream like any script.
 */
import { PAGE_SCRIPT } from './page-script.js';

const STYLE = `
:root { color-scheme: light dark; --line: #8884; --dim: #888; --ok: #2a7; --bad: #d33; --warn: #c80; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, sans-serif; display: grid; grid-template-rows: auto 1fr; height: 100vh; }
header { display: flex; gap: 8px; align-items: center; padding: 6px 10px; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header h1 { font-size: 14px; margin: 0 8px 0 0; }
main { display: grid; grid-template-columns: minmax(380px, 40%) 1fr; min-height: 0; }
#list { overflow: auto; border-right: 1px solid var(--line); }
#list table { width: 100%; border-collapse: collapse; }
#list td, #list th { padding: 3px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; text-align: left; }
#list tr.tx { cursor: pointer; } #list tr.tx:hover, #list tr.selected { background: #8882; }
#detail { overflow: auto; padding: 8px 12px; }
section { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 10px; padding: 6px 10px; }
section h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--dim); margin: 0 0 4px; }
pre { white-space: pre-wrap; word-break: break-all; margin: 4px 0; font-size: 12px; max-height: 260px; overflow: auto; }
textarea { width: 100%; min-height: 160px; font: 12px monospace; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; } dt { color: var(--dim); } dd { margin: 0; word-break: break-all; }
.s2 { color: var(--ok); } .s4, .s5 { color: var(--bad); } .v-malicious { color: var(--bad); font-weight: 600; } .v-benign { color: var(--ok); }
.badge { font-size: 11px; border: 1px solid var(--line); border-radius: 8px; padding: 0 5px; color: var(--dim); }
#live.on { color: var(--ok); } #live.off { color: var(--bad); }
button { font: inherit; }
.row { display: flex; gap: 6px; flex-wrap: wrap; align-items: center; margin: 4px 0; }
`;

const BODY = `
<header>
  <h1>polyswarm-engine inspector</h1>
  <span id="live" class="off" data-testid="live">connecting…</span>
  <select id="f-event" aria-label="event"><option value="">all events</option><option>bounty</option><option>ping</option><option>GET</option></select>
  <input id="f-status" placeholder="status (202, 4xx)" size="12" aria-label="status">
  <select id="f-verdict" aria-label="verdict"><option value="">any verdict</option><option>malicious</option><option>benign</option><option>suspicious</option><option>unknown</option><option value="none">no answer</option></select>
  <input id="f-text" placeholder="search" size="16" aria-label="search">
  <a href="/api/export.jsonl" download>export JSONL</a>
  <a href="/api/export.har" download>export HAR</a>
  <label>import JSONL <input type="file" id="import" accept=".jsonl,.json,application/x-ndjson"></label>
  <details id="send-box"><summary>send a bounty</summary>
    <div class="row">
      <label><input type="radio" name="artifact" value="eicar" checked> EICAR</label>
      <label><input type="radio" name="artifact" value="file"> file <input type="file" id="send-file"></label>
      <label>expires in <input id="send-exp" type="number" value="30" min="1" max="3600" size="4">s</label>
      <select id="send-phase"><option>assertion</option><option>arbitration</option></select>
      <button id="send" data-testid="send">send</button>
    </div>
  </details>
  <span id="engine" class="badge"></span>
</header>
<main>
  <div id="list"><table><thead><tr><th>time</th><th>event</th><th>status</th><th>ack</th><th>verdict</th><th>answer</th><th>bounty</th><th>via</th></tr></thead><tbody id="rows"></tbody></table></div>
  <div id="detail"><p>Send a bounty (\`polyswarm-engine test bounty --eicar\`, or “send a bounty” above) and it appears here.</p></div>
</main>
`;

/** The whole page. */
export function inspectorPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>polyswarm-engine inspector</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body>${BODY}<script>${PAGE_SCRIPT}</script></body></html>
`;
}
