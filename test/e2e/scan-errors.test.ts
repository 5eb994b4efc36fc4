/**
 * A scan that throws, as its author sees it under `serve`: the log line names the file:line of their code, and a
 * code frame shows that line; the bounty is answered `unknown` with the error as its comment.
 */
import { describe, expect, it } from 'vitest';
import { makeProject, READY, sendBounty, spawnBin, startLoopback, useCleanup } from './serve-helpers.js';

const { cleanup, track } = useCleanup();

const SCAN_TS = [
  "import type { ScanFunction } from 'polyswarm-engine';",
  '',
  'export const scan: ScanFunction = async (bounty) => {',
  "  const text = (await bounty.fetchArtifact()).toString('latin1');",
  '  const parsed = JSON.parse(text) as { ok: boolean };',
  "  return { verdict: parsed.ok ? 'benign' : 'malicious' };",
  '};',
  '',
].join('\n');

describe('a scan that throws (built bin)', () => {
  it('serve: the error line names src/scan.ts:5, a code frame shows the line, the answer is unknown with ERROR:, the metrics count it', async () => {
    const project = makeProject({ 'src/scan.ts': SCAN_TS });
    cleanup.push(project.remove);
    const loopback = await startLoopback();
    cleanup.push(loopback.close);
    const child = track(spawnBin(['serve', '--port', '0', '--no-watch', '--metrics-port', '0', '--cwd', project.dir]));
    const [, url] = await child.waitFor(READY);
    const [, metricsUrl] = await child.waitFor(/\bready\b.*metrics=(\S+)/);
    expect(await sendBounty(url!, loopback.url, 'x1')).toBe(202);
    const [answer] = await loopback.waitForAnswers(1);
    expect(answer!.body.verdict).toBe('unknown');
    expect(answer!.body.metadata?.comments?.[0]).toMatch(/^ERROR:Unexpected token/);
    await child.waitFor(/^\s+src\/scan\.ts:5:\d+ \(bounty x1, unprocessable\)$/);
    const out = child.output();
    expect(out).toMatch(/ERROR scan failed bounty=x1 error=.* at=\S+\/src\/scan\.ts:5:\d+ stack=".*SyntaxError/);
    expect(out).toMatch(/^\s+> 5 \|\s+const parsed = JSON\.parse\(text\) as \{ ok: boolean \};$/m);
    // The answer line is written once the receiver replied, maybe after the test saw the answer.
    await child.waitFor(/answer bounty=x1 verdict=unknown comments=\["ERROR:Unexpected token/);
    const metrics = await (await fetch(metricsUrl!)).text();
    expect(metrics).toMatch(/^polyswarm_engine_scan_errors_total\{scan_error="unprocessable",artifact_type="file"\} 1$/m);
    expect(metrics).toMatch(/^polyswarm_engine_answers_total\{kind="assertion",verdict="unknown",artifact_type="file"\} 1$/m);
    child.kill('SIGINT');
    expect(await child.exited()).toBe(0);
  });
});
