/**
 * Recording in production and replaying it: `start --record --record-artifacts` under `test all`, then
 * `test replay` of that file to a second engine whose scan answers the opposite verdict.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { EICAR } from '../helpers/engines.js';
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
  event: string;
  bounty?: string;
  response: { status: number; duplicate?: boolean };
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

  it('refuses a file that is not a recording, with the line', async () => {
    const project = makeProject({ 'src/scan.ts': scan('malicious', 'benign') });
    cleanup.push(project.remove);
    project.write('bad.jsonl', '{"hello": 1}\n');
    const result = await runBin(['test', 'replay', 'bad.jsonl', '--url', 'http://127.0.0.1:9/', '--secret', 'x', '--cwd', project.dir]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('bad.jsonl line 1: not a recorded delivery');
  });
});
