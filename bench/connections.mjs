/**
 * Connection fairness under a hog (issue: one client holding ~1,024 connections took the engine off the air).
 *
 *   node bench/connections.mjs [idle|slowloris|slowbody] [--hog N] [--seconds S] [--hog-addresses K] [-- start flags]
 *
 * Starts the built bin (`start`), then a hog in a worker thread (its own event loop) holding N connections from
 * 127.0.0.1 (or spread over 127.0.0.1 … 127.0.0.K) that reconnect 10 ms after they are dropped: `idle` connects and
 * sends nothing, `slowloris` sends a header line every second, `slowbody` sends 1 MB bounty bodies with a
 * well-formed (wrong) signature at 16 KiB every 500 ms. Meanwhile a fresh client on 127.0.0.200 sends a signed ping
 * on a new connection every 250 ms (5 s idle timeout each). Prints one JSON line: pings sent and answered (the
 * figure that matters: a share, comparable between runs), their latency p50/p99/max, what the hog held, and the
 * engine's share of a CPU. Latencies depend on the machine's load: compare before and after in the same session, in
 * turn. Standalone, not one of `npm run bench`'s figures (docs/protocol.md §12 gives its results). Needs
 * `ulimit -n` above twice the hog's count.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

if (!isMainThread) runHog(workerData);
else await main();

async function main() {
  const { quantile, removeDir, signedHeaders, startEngine, writeProject } = await import('./lib.mjs');
  const argv = process.argv.slice(2);
  const cut = argv.indexOf('--');
  const engineArgs = cut >= 0 ? argv.splice(cut).slice(1) : [];
  const mode = argv[0] && !argv[0].startsWith('--') ? argv[0] : 'idle';
  const opt = (name, fallback) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  const hogCount = opt('--hog', mode === 'slowbody' ? 2000 : 1100);
  const seconds = opt('--seconds', 30);
  const hogAddresses = opt('--hog-addresses', 1);

  const project = writeProject("export const scan = async () => ({ verdict: 'benign' });\n");
  const engine = await startEngine({ project, args: engineArgs });
  const { port } = new URL(engine.url);
  const hog = new Worker(new URL(import.meta.url), { workerData: { mode, port: Number(port), count: hogCount, hogAddresses } });
  let held = 0;
  let opened = 0;
  hog.on('message', (m) => {
    held = m.held;
    opened = m.opened;
  });
  await new Promise((r) => setTimeout(r, 3000));
  process.stderr.write(`hog (${mode}, ${hogCount} wanted over ${hogAddresses} address(es)): ${held} open, ${opened} opened so far\n`);

  const cpu0 = cpuSeconds(engine.pid);
  const latencies = [];
  const failures = {};
  const pings = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    pings.push(
      ping(Number(port), signedHeaders('ping', '')).then(
        (ms) => latencies.push(ms),
        (error) => (failures[error.code ?? error.message] = (failures[error.code ?? error.message] ?? 0) + 1),
      ),
    );
    await new Promise((r) => setTimeout(r, 250));
  }
  await Promise.all(pings);
  const heldAtEnd = held;
  const engineCpu = (cpuSeconds(engine.pid) - cpu0) / seconds;
  await hog.terminate();
  await engine.stop();
  removeDir(project);
  const ms = (v) => (Number.isFinite(v) ? `${Math.round(v)} ms` : 'n/a');
  const summary = {
    mode,
    hog: hogCount,
    hogAddresses,
    hogHeldAtEnd: heldAtEnd,
    hogConnectionsOpened: opened,
    pings: pings.length,
    answered: latencies.length,
    under1s: latencies.filter((v) => v < 1000).length,
    p50: ms(quantile(latencies, 0.5)),
    p99: ms(quantile(latencies, 0.99)),
    max: ms(Math.max(...latencies)),
    failures,
    engineCpuShare: Number(engineCpu.toFixed(2)),
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

/** User + system CPU seconds a process has used (/proc/<pid>/stat, in clock ticks of 1/100 s). */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A signed ping on a new connection from 127.0.0.200; resolves with its latency in ms when answered 200. */
function ping(port, headers) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, localAddress: '127.0.0.200', method: 'POST', agent: false, headers, timeout: 5000 });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.end();
  });
}

/** The hog: `count` connections that reconnect when dropped (10 ms later), reporting what it holds every 500 ms. */
function runHog({ mode, port, count, hogAddresses }) {
  let held = 0;
  let opened = 0;
  const body = 'x'.repeat(16 * 1024);
  const head =
    'POST / HTTP/1.1\r\nHost: x\r\nX-POLYSWARM-EVENT: bounty\r\nContent-Type: application/json\r\n' +
    `X-POLYSWARM-SIGNATURE: ${'ab'.repeat(32)}\r\nContent-Length: 1048576\r\n\r\n`;
  const open = (i) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: `127.0.0.${1 + (i % hogAddresses)}` });
    let timer;
    let connected = false;
    socket.on('connect', () => {
      connected = true;
      held++;
      opened++;
      if (mode === 'slowloris') {
        socket.write('POST / HTTP/1.1\r\nHost: x\r\n');
        timer = setInterval(() => socket.write(`X-a: ${opened}\r\n`), 1000);
      } else if (mode === 'slowbody') {
        socket.write(head);
        // A slow client, not a firehose: nothing more is written while the last chunk is still queued.
        timer = setInterval(() => socket.writableNeedDrain || socket.write(body), 500);
      }
    });
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      if (connected) held--;
      setTimeout(() => open(i), 10);
    });
  };
  for (let i = 0; i < count; i++) open(i);
  setInterval(() => parentPort.postMessage({ held, opened }), 500);
}
