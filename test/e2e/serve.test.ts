/**
 * `polyswarm-engine serve` as users run it (the built bin, `npm run build` first) on a temp engine project:
 * real HTTP on 127.0.0.1, a real child process, hot reload through real file writes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { holds } from '../helpers/poll.js';
import { makeProject, useCleanup, READY, sendBounty, spawnBin, startLoopback } from './serve-helpers.js';

const scanReturning = (verdict: string) =>
  [
    "import type { ScanFunction } from 'polyswarm-engine';",
    `const VERDICT = '${verdict}' as const;`,
    'export const scan: ScanFunction = async (bounty) => {',
    '  await bounty.fetchArtifact();',
    '  return { verdict: VERDICT };',
    '};',
    '',
  ].join('\n');

const { cleanup, track } = useCleanup();

describe('serve (built bin)', () => {
  it('answers bounties, hot-reloads scan.ts on save, keeps the last good module on a syntax error, cleans up', async () => {
    const project = makeProject({ 'src/scan.ts': scanReturning('benign') });
    cleanup.push(project.remove);
    const loopback = await startLoopback();
    cleanup.push(loopback.close);
    const child = track(spawnBin(['serve', '--port', '0', '--cwd', project.dir]));
    const [, url] = await child.waitFor(READY);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(child.output()).toContain(`secret   from WEBHOOK_SECRET in ${join(project.dir, '.env')}`);
    expect(child.output()).toContain('reload   on save (watching src/)');
    expect(child.output()).not.toContain('qwertyuiop');

    const statePath = join(project.dir, '.polyswarm', 'serve.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { url: string; pid: number; startedAt: string };
    expect(state).toMatchObject({ url, pid: child.proc.pid });
    expect(Number.isNaN(Date.parse(state.startedAt))).toBe(false);

    expect(await sendBounty(url!, loopback.url, 'b1')).toBe(202);
    const [first] = await loopback.waitForAnswers(1);
    expect(first).toMatchObject({ id: 'b1', body: { verdict: 'benign' } });

    // Save a new verdict; bounties sent from then on must get it (poll: each round trip is a few ms).
    const saved = performance.now();
    const reloadLine = child.lines.length;
    project.write('src/scan.ts', scanReturning('malicious'));
    let n = 1;
    let newVerdictAt: number | undefined;
    while (newVerdictAt === undefined) {
      if (performance.now() - saved > 5000) throw new Error(`the edit was not picked up within 5 s:\n${child.output()}`);
      const id = `b${++n}`;
      expect(await sendBounty(url!, loopback.url, id)).toBe(202);
      const answers = await loopback.waitForAnswers(n);
      if (answers.find((a) => a.id === id)!.body.verdict === 'malicious') newVerdictAt = performance.now();
    }
    const [reloaded] = await child.waitFor(/INFO  reloaded file=src\/scan\.ts ms=\d+ since_save_ms=\d+/, 5000, reloadLine);
    console.log(`hot reload (e2e): save → first bounty answered with the new code ${(newVerdictAt - saved).toFixed(0)} ms; ${reloaded}`);
    expect(newVerdictAt - saved).toBeLessThan(3000);

    // A syntax error: reported with file:line, and the last good module keeps answering.
    const brokenLine = child.lines.length;
    project.write('src/scan.ts', scanReturning('benign').replace('return { verdict: VERDICT };', 'return { verdict: VERDICT ;'));
    const [failure] = await child.waitFor(/ERROR reload failed.*/, 5000, brokenLine);
    expect(failure).toContain('at=src/scan.ts:5:29');
    expect(failure).toContain('SyntaxError: Unexpected token');
    const id = `b${++n}`;
    expect(await sendBounty(url!, loopback.url, id)).toBe(202);
    await loopback.waitForAnswers(n);
    expect(loopback.answers.find((a) => a.id === id)!.body.verdict).toBe('malicious');

    child.kill('SIGTERM');
    expect(await child.exited()).toBe(0);
    expect(existsSync(statePath)).toBe(false);
    expect(child.output()).toContain('stopping signal=SIGTERM');
  });

  it('--no-watch: edits are not picked up, and the banner says so', async () => {
    const project = makeProject({ 'src/scan.ts': scanReturning('benign') });
    cleanup.push(project.remove);
    const loopback = await startLoopback();
    cleanup.push(loopback.close);
    const child = track(spawnBin(['serve', '--port', '0', '--no-watch', '--cwd', project.dir]));
    const [, url] = await child.waitFor(READY);
    expect(child.output()).toContain('reload   off (--no-watch)');
    project.write('src/scan.ts', scanReturning('malicious'));
    // A watcher would have reloaded within this (the hot-reload test above sees it in well under that).
    await holds(() => !/\breloaded\b/.test(child.output()), 'no reload', 400);
    expect(await sendBounty(url!, loopback.url, 'nw')).toBe(202);
    expect((await loopback.waitForAnswers(1))[0]!.body.verdict).toBe('benign');
    child.kill('SIGINT');
    expect(await child.exited()).toBe(0);
  });

  it('a second Ctrl-C stops at once with exit code 130', async () => {
    const slow =
      "export const scan = async () => { await new Promise((r) => setTimeout(r, 4000)); return { verdict: 'benign' as const }; };\n";
    const project = makeProject({ 'src/scan.ts': slow });
    cleanup.push(project.remove);
    const loopback = await startLoopback();
    cleanup.push(loopback.close);
    const child = track(spawnBin(['serve', '--port', '0', '--concurrency', '1', '--cwd', project.dir]));
    const [, url] = await child.waitFor(READY);
    for (const id of ['s1', 's2', 's3']) expect(await sendBounty(url!, loopback.url, id, 9000)).toBe(202);
    child.kill('SIGINT');
    await child.waitFor(/stopping signal=SIGINT/);
    const second = performance.now();
    child.kill('SIGINT');
    expect(await child.exited(5000)).toBe(130);
    const ms = performance.now() - second;
    console.log(`second Ctrl-C → exit 130 in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(2500);
    expect(existsSync(join(project.dir, '.polyswarm', 'serve.json'))).toBe(false);
  });
});

describe('serve: what keeps it from starting (exit 2, a precise message)', () => {
  it('not an engine project', async () => {
    const project = makeProject({ 'README.md': '# not an engine' });
    cleanup.push(project.remove);
    const r = await runBin(['serve', '--port', '0', '--cwd', join(project.dir, 'src')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`Error: ${join(project.dir, 'src')} does not exist`);
    const notProject = await runBin(['serve', '--port', '0', '--cwd', join(project.dir, 'node_modules')]);
    expect(notProject.exitCode).toBe(2);
    expect(notProject.stderr).toContain(
      'is not a polyswarm-engine project: looked for src/scan.ts, src/scan.mts, src/scan.js, src/scan.mjs',
    );
    expect(notProject.stderr).toContain('Hint: Create one with `polyswarm-engine init my-engine`');
  });

  it('scan.ts without a scan export', async () => {
    const project = makeProject({ 'src/scan.ts': 'export function scanner() {}\n' });
    cleanup.push(project.remove);
    const r = await runBin(['serve', '--port', '0', '--cwd', project.dir]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Error: src/scan.ts: it does not export a `scan` function (it exports: scanner (function))');
    expect(r.stdout).not.toMatch(READY);
  });

  it('a syntax error at startup: file:line:column and the line', async () => {
    const project = makeProject({ 'src/scan.ts': 'export const scan = () => {\n  return { verdict: "benign" ;\n};\n' });
    cleanup.push(project.remove);
    const r = await runBin(['serve', '--port', '0', '--cwd', project.dir]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(
      'Error: src/scan.ts:2:30: SyntaxError: Unexpected token, expected ","\n  2 |   return { verdict: "benign" ;\n',
    );
    // serve has exited: no "save (serve reloads)".
    expect(r.stderr).toContain('Hint: Fix it, then run the command again.');
    expect(r.stderr).not.toContain('serve reloads');
    expect(r.stderr).not.toContain('node_modules');
    expect(existsSync(join(project.dir, '.polyswarm', 'serve.json'))).toBe(false);
  });

  it('no webhook secret', async () => {
    const project = makeProject({ 'src/scan.ts': scanReturning('benign') }, { env: null });
    cleanup.push(project.remove);
    const r = await runBin(['serve', '--port', '0', '--cwd', project.dir]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Error: no webhook secret: `serve` needs WEBHOOK_SECRET');
    expect(r.stderr).toContain(`Hint: Run \`polyswarm-engine secret --write\` to give ${join(project.dir, '.env')} a new random one`);
  });
});
