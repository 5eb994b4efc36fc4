/**
 * `serve` and the project around it: a port the user named is that port or an error, a second `serve` of the same
 * project leaves the first one's state file alone, and `.env` edits reach the scan code without a restart.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { makeProject, READY, sendBounty, spawnBin, startLoopback, useCleanup } from './serve-helpers.js';

const ENV_VERDICT_SCAN = [
  'export async function scan(bounty) {',
  '  await bounty.fetchArtifact();',
  "  return { verdict: process.env.VERDICT ?? 'unknown' };",
  '}',
  '',
].join('\n');

const { cleanup, track } = useCleanup();

/** A loopback port held by another process for the test's life. */
async function takenPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

describe('serve and its project', () => {
  it('a port named with --port or PORT that is taken is a usage error (exit 2), never another port', async () => {
    const project = makeProject({ 'src/scan.mjs': ENV_VERDICT_SCAN });
    cleanup.push(project.remove);
    const port = await takenPort();
    const byFlag = await runBin(['serve', '--port', String(port), '--no-watch', '--cwd', project.dir]);
    expect(byFlag.exitCode, byFlag.stderr).toBe(2);
    expect(byFlag.stderr).toContain(`Error: port ${port} on 127.0.0.1 (from --port) is already in use`);
    const byEnv = await runBin(['serve', '--no-watch', '--cwd', project.dir], { env: { PORT: String(port) } });
    expect(byEnv.exitCode, byEnv.stderr).toBe(2);
    expect(byEnv.stderr).toContain(`Error: port ${port} on 127.0.0.1 (from $PORT) is already in use`);
    expect(existsSync(join(project.dir, '.polyswarm', 'serve.json'))).toBe(false);
  });

  it('a second serve of the same project keeps the first one as the one `test` finds', async () => {
    const project = makeProject({ 'src/scan.mjs': ENV_VERDICT_SCAN });
    cleanup.push(project.remove);
    const first = track(spawnBin(['serve', '--port', '0', '--no-watch', '--cwd', project.dir]));
    const [, firstUrl] = await first.waitFor(READY);
    const statePath = join(project.dir, '.polyswarm', 'serve.json');
    const state = readFileSync(statePath, 'utf8');

    // Same port: refused, and the first one's record stays.
    const port = new URL(firstUrl!).port;
    const clash = await runBin(['serve', '--port', port, '--no-watch', '--cwd', project.dir]);
    expect(clash.exitCode).toBe(2);
    expect(clash.stderr).toContain(`is already in use by this project's other \`serve\` (pid ${first.proc.pid})`);
    expect(readFileSync(statePath, 'utf8')).toBe(state);

    // Another port: it runs, says which one `test` uses, and leaves the record alone while it runs and after it stops.
    const second = track(spawnBin(['serve', '--port', '0', '--no-watch', '--cwd', project.dir]));
    await second.waitFor(READY);
    expect(second.output()).toContain(`another serve of this project is running (pid ${first.proc.pid}, ${firstUrl})`);
    // The first holds the project's journal; the second says it keeps its queue in memory (start would refuse).
    expect(second.output()).toMatch(new RegExp(`holds its journal; this serve keeps its queue in memory pid=${first.proc.pid}`));
    expect(readFileSync(statePath, 'utf8')).toBe(state);
    second.kill('SIGTERM');
    expect(await second.exited()).toBe(0);
    expect(readFileSync(statePath, 'utf8')).toBe(state);
  });

  it('.env edits reach the scan code on the next bounty, without a restart', async () => {
    const project = makeProject({ 'src/scan.mjs': ENV_VERDICT_SCAN });
    cleanup.push(project.remove);
    project.write('.env', 'WEBHOOK_SECRET=qwertyuiop\nVERDICT=benign\n');
    const loopback = await startLoopback();
    cleanup.push(loopback.close);
    const child = track(spawnBin(['serve', '--port', '0', '--cwd', project.dir]));
    const [, url] = await child.waitFor(READY);
    expect(await sendBounty(url!, loopback.url, 'e1')).toBe(202);
    expect((await loopback.waitForAnswers(1))[0].body.verdict).toBe('benign');

    const from = child.lines.length;
    project.write('.env', 'WEBHOOK_SECRET=qwertyuiop\nVERDICT=malicious\n');
    await child.waitFor(/\.env reloaded: VERDICT changed/, 5000, from);
    expect(await sendBounty(url!, loopback.url, 'e2')).toBe(202);
    const answers = await loopback.waitForAnswers(2);
    expect(answers.find((a) => a.id === 'e2')!.body.verdict).toBe('malicious');

    // A setting serve read at start: said to need a restart.
    project.write('.env', 'WEBHOOK_SECRET=another\nVERDICT=malicious\n');
    await child.waitFor(/WEBHOOK_SECRET changed in \.env: serve read it at start, restart serve to use it/, 5000, from);
  });

  it('while the last save does not load, `test` says it is testing the last good code', async () => {
    const project = makeProject({ 'src/scan.mjs': ENV_VERDICT_SCAN });
    cleanup.push(project.remove);
    const child = track(spawnBin(['serve', '--port', '0', '--cwd', project.dir]));
    await child.waitFor(READY);
    const from = child.lines.length;
    project.write('src/scan.mjs', ENV_VERDICT_SCAN.replace("?? 'unknown' }", "?? 'unknown' "));
    await child.waitFor(/reload failed/, 5000, from);
    const stale = await runBin(['test', 'ping'], { cwd: project.dir });
    expect(stale.exitCode).toBe(0);
    expect(stale.stderr).toMatch(/it runs the last good code, your last save did not load: src\/scan\.mjs:\d+(:\d+)?: SyntaxError/);

    const fixed = child.lines.length;
    project.write('src/scan.mjs', ENV_VERDICT_SCAN);
    await child.waitFor(/INFO  reloaded/, 5000, fixed);
    const fresh = await runBin(['test', 'ping'], { cwd: project.dir });
    expect(fresh.stderr).not.toContain('last good code');
  });
});
