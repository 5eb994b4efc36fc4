/**
 * `node bench/bench.mjs --profile`: summarises the engine's V8 CPU profile (written by `--cpu-prof` when the engine
 * exits) into where its time went, by layer: the engine's own code, the h3/srvx adapter, web streams, undici
 * (fetch), node's HTTP core, logging, GC. Self time as a share of the time the engine was busy (idle time is
 * left out: in figure 1 the engine sits idle while the baselines are measured), so the shares add up to 100 %.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const LAYERS = [
  ['garbage collection', (_url, fn) => fn === '(garbage collector)'],
  [
    'write syscalls (responses on sockets, log lines on the stdout pipe)',
    (_url, fn) => /^(writev|writeBuffer|writeUtf8String|writeLatin1String)$/.test(fn),
  ],
  ['engine logging (util/logger)', (url) => url.includes('/dist/util/logger')],
  ['engine code (dist/engine, dist/protocol)', (url) => /\/dist\/(engine|protocol)\//.test(url)],
  ['h3 + srvx (Request/Response adapter)', (url) => /node_modules\/(h3|srvx|rou3)\//.test(url)],
  ['web streams', (url) => url.includes('node:internal/webstreams')],
  [
    'undici (fetch, Request, Response, Headers)',
    (url, fn) => url.includes('undici') || /^(JSTransferable|makeTransferable)$/.test(fn) || url.includes('js_transferable'),
  ],
  ['lossless-json', (url) => url.includes('lossless-json')],
  ['crypto (HMAC, sha256)', (url, fn) => url.includes('node:internal/crypto') || /^(Hmac|Hash)$/.test(fn)],
  ['node http/net core', (url) => /node:(_http|net|internal\/(http|stream_base|streams|net))/.test(url)],
  [
    'node events, timers, microtasks',
    (url, fn) => /node:(events|internal\/(timers|process\/task_queues|abort_controller|event_target))/.test(url) || fn === 'runMicrotasks',
  ],
];

/** Self time by layer, in percent of the engine's busy time, largest first. */
export function summariseProfile(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const layers = new Map();
  for (const [id, time] of self) {
    const { url, functionName } = nodes.get(id).callFrame;
    if (functionName === '(idle)') {
      total -= time;
      continue;
    }
    const layer = LAYERS.find(([, test]) => test(url, functionName))?.[0] ?? 'other (V8, node internals, module loading)';
    layers.set(layer, (layers.get(layer) ?? 0) + time);
  }
  return [...layers].sort((a, b) => b[1] - a[1]).map(([layer, time]) => ({ layer, percent: Number(((100 * time) / total).toFixed(1)) }));
}

/** The newest `.cpuprofile` in `dir`, summarised; null if the engine wrote none. */
export function summariseDir(dir) {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  return files.length ? summariseProfile(join(dir, files.at(-1))) : null;
}
