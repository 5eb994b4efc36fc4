/**
 * `polyswarm-engine start` (production) as users run it: the built bin on a temp engine project, real HTTP on
 * 127.0.0.1, real signals.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { holds } from '../helpers/poll.js';
import { makeProject, useCleanup, READY, SECRET, sendBounty, spawnBin, startLoopback } from './serve-helpers.js';

const { cleanup, track } = useCleanup();

const slowScan = [
  "import type { ScanFunction } from 'polyswarm-engine';",
  'export const scan: ScanFunction = async (bounty) => {',
  '  await bounty.fetchArtifact();',
  '  await new Promise((resolve) => setTimeout(resolve, 100));',
  "  return { verdict: 'benign' };",
  '};',
  '',
].join('\n');

describe('start (built bin)', () => {
  it('SIGTERM with 50 bounties queued behind slow scans: each gets exactly one answer before the process exits 0', async () => {
    const project = makeProject({ 'src/scan.ts': slowScan }, { env: null });
    cleanup.push(project.remove);
    const loopback = await startLoopback();
    cleanup.push(loopback.close);
    const child = track(
      spawnBin(['start', '--port', '0', '--concurrency', '2', '--cwd', project.dir], { WEBHOOK_SECRET: SECRET, LOG_FORMAT: 'json' }),
    );
    const [, url] = await child.waitFor(READY);
    // JSON lines in production, the ready line included.
    const ready = JSON.parse(child.lines.find((l) => l.includes('"msg":"ready"'))!) as Record<string, unknown>;
    expect(ready).toMatchObject({ level: 'info', msg: 'ready', url, pid: child.proc.pid });

    const ids = Array.from({ length: 50 }, (_, i) => `q${i}`);
    const statuses = await Promise.all(ids.map((id) => sendBounty(url!, loopback.url, id, 15_000)));
    expect(statuses.every((s) => s === 202)).toBe(true);
    child.kill('SIGTERM');
    const code = await child.exited(20_000);
    const answeredBeforeExit = loopback.answers.length;
    expect(code).toBe(0);
    expect(answeredBeforeExit).toBe(50);
    const byId = new Map<string, number>();
    for (const a of loopback.answers) byId.set(a.id, (byId.get(a.id) ?? 0) + 1);
    expect([...byId.keys()].sort()).toEqual([...ids].sort());
    expect([...byId.values()].every((n) => n === 1)).toBe(true);
    // Scans that ran answered their verdict; the rest were answered unknown at shutdown, never dropped.
    const verdicts = loopback.answers.map((a) => a.body.verdict);
    expect(verdicts.filter((v) => v === 'benign').length).toBeGreaterThanOrEqual(1);
    const skipped = loopback.answers.filter((a) => a.body.verdict === 'unknown');
    expect(skipped.length + verdicts.filter((v) => v === 'benign').length).toBe(50);
    for (const a of skipped) expect(JSON.stringify(a.body.metadata)).toContain('SKIPPED:SHUTDOWN');
    console.log(`SIGTERM: ${50 - skipped.length} scanned, ${skipped.length} answered SKIPPED:SHUTDOWN, exit ${code}`);
    // And nothing arrives after the exit.
    await holds(() => loopback.answers.length === 50, 'no answer after the exit', 200);
    expect(loopback.answers.length).toBe(50);
  });

  it('binds 127.0.0.1, takes PORT from the environment, and answers a signed bounty', async () => {
    const project = makeProject({
      'src/scan.mjs': "export default { scan: () => ({ verdict: 'malicious' }), computeBid: () => 10n ** 17n };\n",
    });
    cleanup.push(project.remove);
    const loopback = await startLoopback();
    cleanup.push(loopback.close);
    const child = track(spawnBin(['start', '--cwd', project.dir], { PORT: '0' }));
    const [, url] = await child.waitFor(READY);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(child.output()).toMatch(/INFO  ready url=http:\/\/127\.0\.0\.1:\d+\/ pid=\d+/);
    expect(await sendBounty(url!, loopback.url, 'p1')).toBe(202);
    const [answer] = await loopback.waitForAnswers(1);
    expect(answer!.body).toMatchObject({ verdict: 'malicious', bid: 100000000000000000 });
    child.kill('SIGINT');
    expect(await child.exited()).toBe(0);
  });
});

describe('start: errors that escape the scan code', () => {
  it('a throw in a timer and an unawaited rejection are logged; the engine keeps answering', async () => {
    const project = makeProject({
      'src/scan.ts': [
        'export const scan = async () => {',
        "  setTimeout(() => { throw new Error('late boom'); }, 0);",
        "  void Promise.reject(new Error('nobody awaits this'));",
        "  return { verdict: 'benign' as const };",
        '};',
        '',
      ].join('\n'),
    });
    cleanup.push(project.remove);
    const loopback = await startLoopback();
    cleanup.push(loopback.close);
    const child = track(spawnBin(['start', '--port', '0', '--cwd', project.dir]));
    const [, url] = await child.waitFor(READY);
    expect(await sendBounty(url!, loopback.url, 'u1')).toBe(202);
    await loopback.waitForAnswers(1);
    // The place is logged too, so an author can tell their code from ours.
    await child.waitFor(/ERROR uncaught error in scan code; the process keeps running error="late boom" at="[^"]*src\/scan\.ts:2:\d+\)"/);
    await child.waitFor(
      /ERROR uncaught error in scan code; the process keeps running error="nobody awaits this" at="[^"]*src\/scan\.ts:3:\d+\)"/,
    );
    expect(await sendBounty(url!, loopback.url, 'u2')).toBe(202);
    const answers = await loopback.waitForAnswers(2);
    expect(answers.map((a) => a.body.verdict)).toEqual(['benign', 'benign']);
    expect(child.proc.exitCode).toBe(null);
    child.kill('SIGTERM');
    expect(await child.exited()).toBe(0);
  });
});

describe('start: what keeps it from starting (exit 2, a precise message)', () => {
  it('no webhook secret: names WEBHOOK_SECRET', async () => {
    const project = makeProject({ 'src/scan.ts': slowScan }, { env: null });
    cleanup.push(project.remove);
    const r = await runBin(['start', '--port', '0', '--cwd', project.dir]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Error: WEBHOOK_SECRET is not set: `start` will not run an engine that cannot check signatures');
    expect(r.stderr).toContain('Hint: Set WEBHOOK_SECRET (or PSENGINE_WEBHOOK_SECRET)');
    expect(r.stdout).not.toMatch(READY);
  });

  it('the port is in use', async () => {
    const project = makeProject({ 'src/scan.ts': slowScan });
    cleanup.push(project.remove);
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => blocker.close(resolve)));
    const port = (blocker.address() as AddressInfo).port;
    const r = await runBin(['start', '--port', String(port), '--cwd', project.dir]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`Error: port ${port} on 127.0.0.1 is already in use`);
    expect(r.stderr).toContain('Hint: Stop the process using it, or pick another port with --port (or PORT)');
    // Only the error: an engine that never served does not log shutting down and stopping.
    expect(r.stderr.trim().split('\n')).toHaveLength(2);
    expect(r.stdout).not.toMatch(/shutting down|stopped/);
  });

  it('--with-worker without --queue', async () => {
    const project = makeProject({ 'src/scan.ts': slowScan });
    cleanup.push(project.remove);
    const r = await runBin(['start', '--with-worker', '--port', '0', '--cwd', project.dir]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Error: --with-worker needs --queue');
  });

  it('a scan module that fails while loading: the throwing line', async () => {
    const project = makeProject({
      'src/scan.ts':
        "const key = process.env.API_KEY;\nif (!key) throw new Error('API_KEY is not set');\nexport const scan = () => ({ verdict: 'benign' });\n",
    });
    cleanup.push(project.remove);
    const r = await runBin(['start', '--port', '0', '--cwd', project.dir]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/Error: src\/scan\.ts:2:\d+: Error: API_KEY is not set/);
  });
});
