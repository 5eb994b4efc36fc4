/**
 * `node bench/compare.mjs <other checkout> [rounds]`: figure 11 for two builds in the same run, to measure a change
 * on a shared, noisy machine. `start` of this checkout and of another one (built: `npm run build` there, e.g. a
 * `git archive` of the commit before the change) take the same fixed-rate load at the same time as the minimal
 * engine of bench/minimal-engine.mjs; journaled against the durable floor, `--queue memory` against the floor
 * without LMDB, the two groups in alternating order. Prints each round and the medians of the per-round ratios
 * (this ÷ floor, other ÷ floor, this ÷ other). CPU is user + system of each process's threads, from /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { bountyBody, children, median, removeDir, ROOT, SECRET, signedHeaders, spawnReady, startHost, writeProject } from './lib.mjs';

const [otherArg, roundsArg = '5'] = process.argv.slice(2);
if (!otherArg) {
  process.stderr.write('usage: node bench/compare.mjs <other checkout, built> [rounds]\n');
  process.exit(2);
}
const OTHER = resolve(otherArg);
const RATE = 250;
const SECONDS = 5;
const SCAN = `export async function scan(bounty) { await bounty.fetchArtifact(); return { verdict: 'benign' }; }`;

process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

const host = await startHost();
const projects = [];
const start = (root, args = []) => {
  const project = writeProject(SCAN);
  projects.push(project);
  return spawnReady([join(root, 'bin', 'polyswarm-engine.js'), 'start', '--port', '0', '--cwd', project, '--secret', SECRET, ...args], {
    cwd: project,
    env: { POLYSWARM_EGRESS: 'any' },
  });
};
const minimal = (...args) => spawnReady([join(ROOT, 'bench', 'minimal-engine.mjs'), SECRET, ...args]);
const groups = {
  journaled: { this: await start(ROOT), other: await start(OTHER), floor: await minimal() },
  memory: {
    this: await start(ROOT, ['--queue', 'memory']),
    other: await start(OTHER, ['--queue', 'memory']),
    floor: await minimal('--memory'),
  },
};

/** CPU seconds of a process (every thread), from /proc. */
function cpuSeconds(pid) {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += (Number(fields[11]) + Number(fields[12])) / 100;
  }
  return total;
}

function send(url, prefix, amount) {
  let n = 0;
  const request = {
    method: 'POST',
    path: '/',
    setupRequest(r) {
      const id = `${prefix}-${n++}`;
      const body = bountyBody({ id, artifactUri: host.artifactUrl, responseUrl: host.answerUrl(id) });
      return Object.assign(r, { body, headers: signedHeaders('bounty', body) });
    },
  };
  return new Promise((done, fail) =>
    autocannon({ url, amount, connections: 16, overallRate: RATE, requests: [request] }, (error, result) =>
      error || result.non2xx > 0 ? fail(error ?? new Error(`${url}: ${result.non2xx} non-2xx`)) : done(result),
    ),
  );
}

/** One round of a group: `amount` bounties to each of its three at once; CPU ms per answered bounty of each. */
async function round(name, prefix, amount) {
  const group = groups[name];
  const names = Object.keys(group);
  const answered = host.waitForTotal(host.total + amount * names.length, 120_000);
  const before = names.map((n) => cpuSeconds(group[n].pid));
  await Promise.all(names.map((n) => send(group[n].url, `${prefix}-${name}-${n}`, amount)));
  await answered;
  return Object.fromEntries(names.map((n, i) => [n, ((cpuSeconds(group[n].pid) - before[i]) / amount) * 1000]));
}

try {
  for (const name of Object.keys(groups)) await round(name, 'warm', 600);
  const results = { journaled: [], memory: [] };
  for (let r = 0; r < Number(roundsArg); r++) {
    for (const name of r % 2 === 0 ? ['journaled', 'memory'] : ['memory', 'journaled']) {
      const ms = await round(name, `r${r}`, RATE * SECONDS);
      results[name].push(ms);
      process.stderr.write(
        `round ${r + 1} ${name}: CPU ms per bounty ${Object.entries(ms)
          .map(([n, v]) => `${n} ${v.toFixed(3)}`)
          .join(', ')}\n`,
      );
    }
  }
  if (host.duplicates > 0) throw new Error(`${host.duplicates} bounties were answered twice`);
  for (const [name, rounds] of Object.entries(results)) {
    const ratio = (a, b) => median(rounds.map((ms) => ms[a] / ms[b])).toFixed(3);
    const ms = (n) => median(rounds.map((x) => x[n])).toFixed(3);
    process.stdout.write(
      `${name}: this ÷ floor ${ratio('this', 'floor')}, other ÷ floor ${ratio('other', 'floor')}, this ÷ other ${ratio('this', 'other')} ` +
        `(median ms per bounty: this ${ms('this')}, other ${ms('other')}, floor ${ms('floor')})\n`,
    );
  }
} finally {
  await Promise.all(Object.values(groups).flatMap((group) => Object.values(group).map((engine) => engine.stop())));
  await host.close();
  for (const project of projects) removeDir(project);
}
