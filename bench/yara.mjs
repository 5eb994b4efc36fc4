#!/usr/bin/env node
/**
 * The yara template's engine against its own binding: scan throughput of a served engine (`polyswarm-engine start`
 * on a project made with `init --template yara`, the built bin) on a folder of files, as a ratio to calling YARA-X
 * (@litko/yara-x) directly on the same files with the same rules in this process. The ratio is the engine's
 * overhead (signed webhooks, the artifact's download over loopback and its sha256, the copy to the scanning thread,
 * the answer): 1 means none. `npm run build` first; `node bench/yara.mjs`.
 *
 * One scanning thread (YARA_THREADS=1) against one direct scanner, so the two scan the same way; the engine's default
 * (one thread per core) is measured too, as what a user gets on this machine. Each size runs direct and engine in
 * alternating pairs (the machine is shared, so each ratio compares neighbours in time) and reports the median.
 * While the engine scans, its liveness endpoint is asked every 10 ms: its answer times say whether scans hold up the
 * event loop (they run on worker threads); a copy of the project that scans on the main thread shows the difference. "download alone" is the loopback download of the same files, 8 at a
 * time, in this process: the part of the engine's work that calling the binding directly does not do.
 *
 * Flags: --pairs 3   --small 200 (files of 64 KiB)   --large 20 (files of 8 MiB)   --json
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compile } from '@litko/yara-x';
import { bountyBody, children, median, quantile, removeDir, ROOT, round, signedHeaders, startEngine } from './lib.mjs';

const { values: flags } = parseArgs({
  options: {
    pairs: { type: 'string', default: '3' },
    small: { type: 'string', default: '200' },
    large: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
  },
});
const PAIRS = Number(flags.pairs);
const KiB = 1024;
const SETS = [
  { name: '64 KiB', size: 64 * KiB, count: Number(flags.small) },
  { name: '8 MiB', size: 8 * KiB * KiB, count: Number(flags.large) },
];
for (const [name, n] of [['--pairs', PAIRS], ...SETS.map((s) => [s.name, s.count])]) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
}
const log = (text) => process.stderr.write(`${text}\n`);

// ---------------------------------------------------------------------------------------------------------------
// The project: the yara template as `init` writes it, linked to this checkout and its binding (no install).

const tmp = mkdtempSync(join(tmpdir(), 'polyswarm-bench-yara-'));
const project = join(tmp, 'yara-engine');
const init = spawnSync(
  process.execPath,
  [join(ROOT, 'bin', 'polyswarm-engine.js'), 'init', project, '--template', 'yara', '--yes', '--no-install', '--no-git'],
  {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', CI: '1' },
  },
);
if (init.status !== 0) throw new Error(`init --template yara failed:\n${init.stderr}`);
mkdirSync(join(project, 'node_modules'));
symlinkSync(ROOT, join(project, 'node_modules', 'polyswarm-engine'), 'dir');
symlinkSync(join(ROOT, 'node_modules', '@litko'), join(project, 'node_modules', '@litko'), 'dir');

// For contrast, a copy whose scan.ts calls the binding on the engine's main thread (what the worker threads avoid).
const mainThreadProject = join(tmp, 'main-thread-engine');
cpSync(project, mainThreadProject, { recursive: true, dereference: false, verbatimSymlinks: true });
const scanFile = join(mainThreadProject, 'src', 'scan.ts');
const patched = readFileSync(scanFile, 'utf8')
  .replace(
    "import { fileURLToPath } from 'node:url';",
    "import { fileURLToPath } from 'node:url';\nimport { compile } from '@litko/yara-x';",
  )
  .replace(
    'const matches = await scanner.scan(bytes, ctx.signal);',
    'const matches = inline.scan(bytes).map((m) => ({ rule: m.ruleIdentifier, namespace: m.namespace, tags: m.tags, meta: m.meta as Record<string, unknown> }));',
  )
  .replace(
    'export const scanner = await startScanner(ruleSet);',
    'const inline = compile(ruleSet.source, { includeDirectories: [ruleSet.dir] });',
  );
if (!patched.includes('inline.scan(bytes)') || !patched.includes('const inline = compile('))
  throw new Error('src/scan.ts changed: update the main-thread variant');
writeFileSync(
  scanFile,
  patched.replace("import { startScanner, type RuleMatch } from './scanner.js';", "import type { RuleMatch } from './scanner.js';"),
);

// The same rule set the engine compiles (src/rules.ts: every rule file in rules/, the example ones include nothing).
const RULES = join(project, 'rules');
const direct = compile(['eicar.yar', 'meta-fields.yar'].map((f) => `include ${JSON.stringify(join(RULES, f))}\n`).join(''));

// ---------------------------------------------------------------------------------------------------------------
// The files, served from memory on loopback; answers received there too.

function makeFiles({ size, count }) {
  return Array.from({ length: count }, () => {
    const bytes = randomBytes(size);
    return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  });
}

async function startHost(files) {
  let answered = 0;
  let waiter = null;
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (req.method === 'GET' && path.startsWith('/artifact/')) {
      const file = files[Number(path.slice('/artifact/'.length))];
      req.resume();
      if (!file) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.bytes.length }).end(file.bytes);
      return;
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('"OK"');
      if (req.method === 'POST' && path.startsWith('/answer/')) {
        answered++;
        waiter?.();
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    /** Resolves once `count` answers arrived since the last reset. */
    until(count, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${answered}/${count} answers within ${timeoutMs} ms`)), timeoutMs);
        waiter = () => {
          if (answered < count) return;
          clearTimeout(timer);
          waiter = null;
          resolve();
        };
        waiter();
      });
    },
    reset() {
      answered = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** MiB/s of scanning `files` with the binding, one after the other, in this process. */
function directRate(files) {
  const started = performance.now();
  for (const file of files) direct.scan(file.bytes);
  const seconds = (performance.now() - started) / 1000;
  return files.reduce((n, f) => n + f.bytes.length, 0) / KiB / KiB / seconds;
}

/** MiB/s of downloading `files` from `host` here, `concurrency` at a time: what the engine must do besides scanning. */
async function downloadRate(host, files, concurrency = 8) {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < files.length) {
        const res = await fetch(`${host.origin}/artifact/${next++}`);
        await res.arrayBuffer();
      }
    }),
  );
  return files.reduce((n, f) => n + f.bytes.length, 0) / KiB / KiB / ((performance.now() - started) / 1000);
}

/**
 * MiB/s of the engine at `url` answering one bounty per file (all sent at once); meanwhile its liveness endpoint
 * (`GET /`) is asked every 10 ms, and how long it takes to answer says whether scans hold up the event loop.
 */
async function engineRate(url, host, files, round) {
  host.reset();
  const acks = [];
  const health = [];
  let scanning = true;
  const probe = (async () => {
    while (scanning) {
      const sent = performance.now();
      await (await fetch(url)).arrayBuffer();
      health.push(performance.now() - sent);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  const started = performance.now();
  await Promise.all(
    files.map(async (file, i) => {
      const body = bountyBody({
        id: `${round}-${i}`,
        artifactUri: `${host.origin}/artifact/${i}`,
        responseUrl: `${host.origin}/answer/${round}-${i}`,
        sha256: file.sha256,
      });
      const sent = performance.now();
      const res = await fetch(url, { method: 'POST', headers: signedHeaders('bounty', body), body });
      await res.arrayBuffer();
      acks.push(performance.now() - sent);
      if (res.status !== 202) throw new Error(`bounty ${i}: HTTP ${res.status}`);
    }),
  );
  await host.until(files.length, 120_000);
  const seconds = (performance.now() - started) / 1000;
  scanning = false;
  await probe;
  return { rate: files.reduce((n, f) => n + f.bytes.length, 0) / KiB / KiB / seconds, acks, health };
}

// ---------------------------------------------------------------------------------------------------------------

const results = [];
try {
  const runs = [
    { threads: 1, project, sets: SETS },
    { threads: Math.min(4, availableParallelism()), project, sets: SETS },
    { threads: 'main', project: mainThreadProject, sets: SETS.slice(1) },
  ];
  for (const { threads, project, sets } of runs) {
    const engine = await startEngine({ project, env: { YARA_THREADS: String(threads) }, args: ['--concurrency', '8'], timeoutMs: 60_000 });
    try {
      for (const set of sets) {
        const files = makeFiles(set);
        const host = await startHost(files);
        try {
          // A warm-up round each way (JIT, the scanning thread's first messages), not counted.
          directRate(files.slice(0, 2));
          await engineRate(engine.url, host, files.slice(0, 2), `warm-${set.name}-${threads}`);
          const pairs = [];
          for (let p = 0; p < PAIRS; p++) {
            const directMiBs = directRate(files);
            const { rate, acks, health } = await engineRate(engine.url, host, files, `${set.name}-${threads}-${p}`);
            const downloadMiBs = await downloadRate(host, files);
            pairs.push({
              directMiBs,
              engineMiBs: rate,
              downloadMiBs,
              ratio: rate / directMiBs,
              ackP99: quantile(acks, 0.99),
              healthP50: quantile(health, 0.5),
              healthP99: quantile(health, 0.99),
            });
            log(
              `  ${set.name} × ${set.count}, ${threads} thread(s), pair ${p + 1}: direct ${directMiBs.toFixed(0)} MiB/s, engine ${rate.toFixed(0)} MiB/s, download alone ${downloadMiBs.toFixed(0)} MiB/s`,
            );
          }
          results.push({
            files: `${set.count} × ${set.name}`,
            threads,
            directMiBs: round(median(pairs.map((p) => p.directMiBs)), 1),
            engineMiBs: round(median(pairs.map((p) => p.engineMiBs)), 1),
            ratio: round(median(pairs.map((p) => p.ratio)), 2),
            downloadMiBs: round(median(pairs.map((p) => p.downloadMiBs)), 1),
            ackP99Ms: round(median(pairs.map((p) => p.ackP99)), 1),
            healthP50Ms: round(median(pairs.map((p) => p.healthP50)), 1),
            healthP99Ms: round(median(pairs.map((p) => p.healthP99)), 1),
          });
        } finally {
          await host.close();
        }
      }
    } finally {
      await engine.stop();
    }
  }
} finally {
  for (const child of children) child.kill('SIGKILL');
  removeDir(tmp);
}

if (flags.json) {
  process.stdout.write(`${JSON.stringify({ node: process.version, cores: availableParallelism(), pairs: PAIRS, results }, null, 2)}\n`);
} else {
  console.log(`yara engine vs YARA-X called directly (node ${process.version}, ${availableParallelism()} cores, median of ${PAIRS} pairs)`);
  console.log('files          threads  direct MiB/s  engine MiB/s  ratio  download alone MiB/s  GET / p50/p99 ms while scanning');
  for (const r of results) {
    console.log(
      `${r.files.padEnd(15)}${String(r.threads).padEnd(9)}${String(r.directMiBs).padEnd(14)}${String(r.engineMiBs).padEnd(14)}${String(r.ratio).padEnd(7)}${String(r.downloadMiBs).padEnd(22)}${r.healthP50Ms} / ${r.healthP99Ms}`,
    );
  }
}
