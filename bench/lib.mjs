/**
 * Shared pieces of `bench/bench.mjs` and `bench/soak.mjs`: temp engine projects, engine child processes (the
 * built bin, exactly what users run), a loopback artifact host + answer receiver, signed deliveries, statistics.
 * Everything binds 127.0.0.1; nothing here reaches another address.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sign } from '../dist/protocol/signature.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'polyswarm-engine.js');
export const SECRET = 'bench-secret-qwertyuiop';
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
export const EICAR_SHA256 = createHash('sha256').update(EICAR).digest('hex');

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes a throwaway engine project (`package.json`, `src/scan.<ext>`) and returns its folder. */
export function writeProject(scanSource, { ext = 'mjs', name = 'bench-engine' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'polyswarm-bench-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '0.0.0', private: true, type: 'module' }, null, 2));
  writeFileSync(join(dir, 'src', `scan.${ext}`), scanSource);
  return dir;
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

const READY = /\bready\b.*?url[=":]+"?(https?:\/\/[^\s"]+)/;

/** Children started here and not yet exited: killed if the bench itself is interrupted or times out. */
export const children = new Set();

/**
 * Spawns `node <argv>` and waits (at most `timeoutMs`) for its `ready … url=…` log line. stdout/stderr are drained
 * (the last 64 KiB are kept, for error messages). `ipc: true` opens a channel (used with `bench/gc-hook.mjs`).
 */
export async function spawnReady(argv, { cwd = ROOT, env = {}, ipc = false, timeoutMs = 20_000 } = {}) {
  const child = spawn(process.execPath, argv, {
    cwd,
    env: { ...process.env, NO_COLOR: '1', CI: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc'] : [])],
  });
  children.add(child);
  // The last 64 KiB or so, as chunks: the engine logs a line per delivery, and copying a 64 KiB string on every chunk
  // cost this process (which is also the load generator) enough CPU to halve the ping rate it could measure.
  const chunks = [];
  let kept = 0;
  const keep = (chunk) => {
    chunks.push(chunk);
    kept += chunk.length;
    while (kept - chunks[0].length > 65_536) kept -= chunks.shift().length;
  };
  const text = () => Buffer.concat(chunks).toString('utf8');
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`not ready within ${timeoutMs} ms: node ${argv.join(' ')}\n${text()}`)), timeoutMs);
    const onData = () => {
      const match = READY.exec(text());
      if (match) done(match[1]);
    };
    const onExit = (code, signal) => fail(new Error(`exited (${code ?? signal}) before it was ready: node ${argv.join(' ')}\n${text()}`));
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stderr.off('data', onData);
      child.off('exit', onExit);
    };
    const done = (value) => {
      cleanup();
      resolve(value);
    };
    const fail = (error) => {
      cleanup();
      child.kill('SIGKILL');
      reject(error);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', onExit);
    onData();
  });
  return {
    url,
    child,
    pid: child.pid,
    output: text,
    exited,
    /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves with how it ended. */
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

/**
 * Runs `polyswarm-engine <command> --port 0 --cwd <project> --secret SECRET [args]` (the built bin) until ready, with
 * POLYSWARM_EGRESS=any: the bench's artifact host and answer receiver are on loopback, which `start` refuses by default.
 */
export function startEngine({ command = 'start', project, args = [], env = {}, nodeArgs = [], ipc = false, timeoutMs } = {}) {
  return spawnReady([...nodeArgs, BIN, command, '--port', '0', '--cwd', project, '--secret', SECRET, ...args], {
    cwd: project,
    env: { POLYSWARM_EGRESS: 'any', ...env },
    ipc,
    timeoutMs,
  });
}

/** Resident memory of a process in bytes, from /proc/<pid>/status (VmRSS). */
export function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

/**
 * Asks a child started with `--expose-gc --import bench/gc-hook.mjs` and `ipc: true` to collect garbage; resolves
 * with its memoryUsage() afterwards, plus `gc`: whether a GC really ran (false without --expose-gc).
 */
export function gcAndMeasure(child, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error('gc-hook did not answer'));
    }, timeoutMs);
    const onMessage = (message) => {
      if (message?.type !== 'memory') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve({ ...message.usage, gc: message.gc === true });
    };
    child.on('message', onMessage);
    child.send({ type: 'gc' });
  });
}

/**
 * The PolySwarm side on loopback: serves the artifact at `/artifact` (held back while the gate is closed) and
 * receives answers at `/answer/<key>`, counting them per key (a second answer for a key is a duplicate).
 */
export async function startHost({ artifact = EICAR } = {}) {
  const bytes = Buffer.from(artifact);
  const answers = new Map();
  let total = 0;
  let duplicates = 0;
  let gateOpen = true;
  let held = [];
  const waiters = new Set();
  const listeners = new Set();
  const serveArtifact = (res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
    res.end(bytes);
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/artifact') {
      req.resume();
      if (gateOpen) serveArtifact(res);
      else held.push(res);
      return;
    }
    if (req.method === 'POST' && path.startsWith('/answer/')) {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const key = decodeURIComponent(path.slice('/answer/'.length));
        const list = answers.get(key) ?? [];
        if (list.length > 0) duplicates++;
        const entry = { at: Date.now(), body: Buffer.concat(chunks).toString('utf8') };
        list.push(entry);
        answers.set(key, list);
        total++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('"OK"');
        for (const w of waiters) w();
        for (const l of listeners) l(key, entry);
      });
      return;
    }
    req.resume();
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    artifactUrl: `${origin}/artifact`,
    answerUrl: (key) => `${origin}/answer/${encodeURIComponent(key)}`,
    answers,
    get total() {
      return total;
    },
    get duplicates() {
      return duplicates;
    },
    /** Calls `listener(key, { at, body })` for every answer from now on; returns the unsubscribe function. */
    onAnswer(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    closeGate() {
      gateOpen = false;
    },
    openGate() {
      gateOpen = true;
      for (const res of held) serveArtifact(res);
      held = [];
    },
    /** Resolves once `count` answers arrived in all; rejects after `timeoutMs`. */
    waitForTotal(count, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (total < count) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(total);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${count} answers within ${timeoutMs} ms, got ${total}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    /** Resolves with the first answer for `key` that satisfies `test`, or null after `timeoutMs`. */
    waitFor(key, test, timeoutMs) {
      return new Promise((resolve) => {
        const check = () => {
          const found = (answers.get(key) ?? []).find(test);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          resolve(null);
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      for (const res of held) res.destroy();
      held = [];
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A bounty body as the platform writes it (bids as JSON integer digits). `id` is a string so keys stay unique and
 * readable; `expiresInMs` sets the expiration; `pad` adds that many bytes of metadata (a large body).
 */
export function bountyBody({ id, artifactUri, responseUrl, expiresInMs = 300_000, sha256 = EICAR_SHA256, phase = 'assertion', pad = 0 }) {
  const expiration = new Date(Date.now() + expiresInMs).toISOString();
  return (
    `{"id":${JSON.stringify(String(id))},"artifact_type":"file","artifact_uri":${JSON.stringify(artifactUri)},` +
    `"expiration":"${expiration}","response_url":${JSON.stringify(responseUrl)},` +
    `"rules":{"min_allowed_bid":62500000000000000,"max_allowed_bid":1000000000000000000},` +
    `"phase":"${phase}"${sha256 ? `,"sha256":"${sha256}"` : ''}${pad > 0 ? `,"metadata":{"pad":"${'x'.repeat(pad)}"}` : ''}}`
  );
}

/** Headers of a signed delivery of `body` (a string or bytes) for `event`. */
export function signedHeaders(event, body, extra = {}) {
  return {
    'x-polyswarm-event': event,
    'x-polyswarm-signature': sign(SECRET, body),
    ...(event === 'bounty' ? { 'content-type': 'application/json' } : {}),
    ...extra,
  };
}

/** Sorted copy + quantile (nearest rank). */
export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
export const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;
export const round = (value, digits = 2) => (Number.isFinite(value) ? Number(value.toFixed(digits)) : value);
export const MB = 1024 * 1024;
