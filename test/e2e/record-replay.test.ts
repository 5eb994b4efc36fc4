/**
 * Recording in production and replaying it: `start --record --record-artifacts` under `test all`, then
 * `test replay` of that file to a second engine whose scan answers the opposite verdict.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { EICAR } from '../helpers/engines.js';
import { startRedis } from '../helpers/redis.js';
import { makeProject, READY, SECRET, spawnBin, useCleanup } from './serve-helpers.js';

const scan = (eicar: string, other: string) =>
  [
    "import type { ScanFunction } from 'polyswarm-engine';",
    `const EICAR = ${JSON.stringify(EICAR)};`,
    'export const scan: ScanFunction = async (bounty) => {',
    "  if (bounty.artifact_type === 'url') return { verdict: 'unknown' };",
    '  const bytes = await bounty.fetchArtifact();',
    `  return { verdict: bytes.toString('latin1').includes(EICAR) ? '${eicar}' : '${other}' };`,
    '};',
    '',
  ].join('\n');

const { cleanup, track } = useCleanup();

interface Line {
  at: string;
  source: string;
  summary?: { expiration: string };
  key?: string;
  event: string;
  bounty?: string;
  response: { status: number; duplicate?: boolean; ackMs: number | null };
  download?: { ok: boolean; sha256: string | null };
  answer?: { verdict: string };
}

describe('start --record, then test replay', () => {
  it('records every delivery without the secret, keeps artifacts 0600, and the replay diff counts every change', async () => {
    const recorded = makeProject({ 'src/scan.ts': scan('malicious', 'benign') });
    const opposite = makeProject({ 'src/scan.ts': scan('benign', 'malicious') }, { env: 'WEBHOOK_SECRET=another-secret\n' });
    cleanup.push(recorded.remove, opposite.remove);
    const file = join(recorded.dir, 'deliveries.jsonl');
    const artifacts = join(recorded.dir, 'artifacts');

    const production = track(
      spawnBin(['start', '--cwd', recorded.dir, '--port', '0', '--record', 'deliveries.jsonl', '--record-artifacts', 'artifacts']),
    );
    const url = (await production.waitFor(READY, 20_000))[1]!;
    const suite = await runBin(['test', 'all', '--url', url, '--secret', SECRET], { timeout: 60_000 });
    expect(suite.exitCode, suite.stdout + suite.stderr).toBe(0);
    production.kill('SIGTERM');
    expect(await production.exited()).toBe(0);

    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(SECRET);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
    expect(lines.some((l) => l.event === 'ping')).toBe(true);
    expect(lines.some((l) => l.response.status === 401)).toBe(true);
    const files = readdirSync(artifacts);
    expect(files.length).toBeGreaterThan(0);
    for (const name of files) {
      expect(name).toMatch(/^[0-9a-f]{64}$/);
      expect(statSync(join(artifacts, name)).mode & 0o777).toBe(0o600);
    }
    // What the replay can compare: accepted bounties with a recorded artifact and a decided verdict.
    const comparable = lines.filter(
      (l) =>
        l.event === 'bounty' &&
        l.response.status === 202 &&
        !l.response.duplicate &&
        l.download?.ok &&
        files.includes(l.download.sha256 ?? '') &&
        l.answer &&
        l.answer.verdict !== 'unknown',
    );
    expect(comparable.length).toBeGreaterThan(3);

    const target = track(spawnBin(['start', '--cwd', opposite.dir, '--port', '0']));
    const targetUrl = (await target.waitFor(READY, 20_000))[1]!;
    const replay = await runBin(
      ['test', 'replay', file, '--artifacts', artifacts, '--url', targetUrl, '--secret', 'another-secret', '--json'],
      { timeout: 60_000 },
    );
    expect(replay.exitCode, replay.stderr).toBe(0);
    const diff = JSON.parse(replay.stdout) as {
      counts: Record<string, number>;
      bounties: { bounty: string; class: string; recorded: { verdict: string } | null; now: { verdict: string } | null }[];
    };
    expect(diff.counts.changed).toBe(comparable.length);
    for (const line of comparable) {
      const entry = diff.bounties.find((b) => b.bounty === line.bounty)!;
      expect(entry.class).toBe('changed');
      expect(entry.now?.verdict).toBe(line.answer!.verdict === 'malicious' ? 'benign' : 'malicious');
    }
    // The URL artifact is skipped, never fetched.
    expect(diff.bounties.some((b) => b.class === 'skipped')).toBe(true);

    const failing = await runBin(
      ['test', 'replay', file, '--artifacts', artifacts, '--url', targetUrl, '--secret', 'another-secret', '--fail-on-change'],
      { timeout: 60_000 },
    );
    expect(failing.exitCode).toBe(1);
    expect(failing.stdout).toMatch(new RegExp(`${comparable.length} changed`));

    // Re-signing is what makes it work: the recorded signatures, sent exactly, are refused by the target.
    const exact = await runBin(['test', 'replay', file, '--exact', '--url', targetUrl, '--secret', 'another-secret', '--json'], {
      timeout: 60_000,
    });
    const exactDiff = JSON.parse(exact.stdout) as { bounties: { status: number | null }[] };
    expect(exactDiff.bounties.every((b) => b.status === 401)).toBe(true);
  }, 120_000);

  it('with Redis: the web process records deliveries, the worker its answers; replayed together, every change is counted', async () => {
    const redis = await startRedis();
    const recorded = makeProject({ 'src/scan.ts': scan('malicious', 'benign') });
    const opposite = makeProject({ 'src/scan.ts': scan('benign', 'malicious') }, { env: 'WEBHOOK_SECRET=another-secret\n' });
    cleanup.push(recorded.remove, opposite.remove, () => redis.close());
    const queue = ['--queue', redis.url, '--cwd', recorded.dir];
    const web = track(spawnBin(['start', ...queue, '--port', '0', '--record', 'web.jsonl']));
    const url = (await web.waitFor(READY, 20_000))[1]!;
    const worker = track(spawnBin(['worker', ...queue, '--record', 'worker.jsonl', '--record-artifacts', 'artifacts']));
    await worker.waitFor(/\bready\b.*record/, 20_000);
    const suite = await runBin(['test', 'all', '--url', url, '--secret', SECRET, '--expiration', '10s'], { timeout: 60_000 });
    expect(suite.exitCode, suite.stdout + suite.stderr).toBe(0);
    worker.kill('SIGTERM');
    web.kill('SIGTERM');
    expect(await worker.exited()).toBe(0);
    expect(await web.exited()).toBe(0);

    const read = (name: string) =>
      readFileSync(join(recorded.dir, name), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Line);
    const webLines = read('web.jsonl');
    const workerText = readFileSync(join(recorded.dir, 'worker.jsonl'), 'utf8');
    expect(workerText).not.toContain(SECRET);
    expect(statSync(join(recorded.dir, 'worker.jsonl')).mode & 0o777).toBe(0o600);
    const workerLines = read('worker.jsonl');
    // Every line is a bounty the worker took: from the queue, no ack time of its own, answered.
    for (const line of workerLines) {
      expect(line).toMatchObject({ source: 'queue', event: 'bounty', response: { status: 202, ackMs: null } });
      expect(line.answer, JSON.stringify(line)).toBeDefined();
    }
    const accepted = webLines.filter((l) => l.event === 'bounty' && l.response.status === 202 && !l.response.duplicate);
    // Every bounty the web process accepted went to the worker, which answered it, but one already expired on arrival.
    for (const line of workerLines) expect(accepted.map((l) => l.key)).toContain(line.key);
    const notTaken = accepted.filter((l) => !workerLines.some((w) => w.key === l.key));
    for (const line of notTaken) expect(Date.parse(line.summary!.expiration), JSON.stringify(line)).toBeLessThan(Date.parse(line.at));
    expect(workerLines.length).toBeGreaterThan(10);

    const files = readdirSync(join(recorded.dir, 'artifacts'));
    const comparable = workerLines.filter(
      (l) =>
        accepted.some((w) => w.key === l.key) &&
        l.download?.ok &&
        files.includes(l.download.sha256 ?? '') &&
        l.answer &&
        l.answer.verdict !== 'unknown',
    );
    expect(comparable.length).toBeGreaterThan(3);

    const target = track(spawnBin(['start', '--cwd', opposite.dir, '--port', '0', '--queue', 'memory']));
    const targetUrl = (await target.waitFor(READY, 20_000))[1]!;
    const replay = (...args: string[]) =>
      runBin(['test', 'replay', ...args, '--url', targetUrl, '--secret', 'another-secret', '--json'], {
        cwd: recorded.dir,
        timeout: 60_000,
      });
    const together = await replay('web.jsonl', 'worker.jsonl', '--artifacts', 'artifacts');
    expect(together.exitCode, together.stderr).toBe(0);
    const diff = JSON.parse(together.stdout) as {
      files: string[];
      counts: Record<string, number>;
      bounties: { bounty: string; class: string }[];
    };
    expect(diff.files).toEqual(['web.jsonl', 'worker.jsonl']);
    expect(diff.counts.changed).toBe(comparable.length);
    expect(diff.bounties.length).toBe(accepted.length);

    // The web process's recording alone has no answers to compare: nothing can be called changed.
    const alone = JSON.parse((await replay('web.jsonl', '--artifacts', 'artifacts')).stdout) as { counts: Record<string, number> };
    expect(alone.counts.changed).toBe(0);
    expect(alone.counts.same).toBe(0);

    // A worker's line has no signature to send exactly.
    const exact = JSON.parse((await replay('worker.jsonl', '--exact')).stdout) as { bounties: { class: string; note?: string }[] };
    expect(exact.bounties.length).toBe(workerLines.length);
    expect(exact.bounties.every((b) => b.class === 'skipped' && b.note === 'recorded by a worker: no signature to send exactly')).toBe(
      true,
    );
  }, 120_000);

  it('refuses a file that is not a recording, with the line', async () => {
    const project = makeProject({ 'src/scan.ts': scan('malicious', 'benign') });
    cleanup.push(project.remove);
    project.write('bad.jsonl', '{"hello": 1}\n');
    const result = await runBin(['test', 'replay', 'bad.jsonl', '--url', 'http://127.0.0.1:9/', '--secret', 'x', '--cwd', project.dir]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('bad.jsonl line 1: not a recorded delivery');
    const none = await runBin(['test', 'replay', '--url', 'http://127.0.0.1:9/', '--secret', 'x', '--cwd', project.dir]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('which recording? `polyswarm-engine test replay FILE…`');
  });
});
