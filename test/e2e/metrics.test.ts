/**
 * Metrics as an operator sees them: the built bin run with `start --metrics-port 0 --statsd udp://…`, `test all`
 * against it, then a real scrape of /metrics over HTTP and the DogStatsD lines caught by a UDP socket on loopback.
 */
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import { until } from '../helpers/poll.js';
import { startRedis } from '../helpers/redis.js';
import { makeProject, READY, SECRET, sendBounty, spawnBin, startLoopback, useCleanup } from './serve-helpers.js';

const { cleanup, track } = useCleanup();

const EICAR_SCAN = [
  "import { EncryptedFileScanError } from 'polyswarm-engine';",
  'const EICAR = String.raw`X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`;',
  'export async function scan(bounty) {',
  "  if (bounty.artifact_type === 'url') return { verdict: 'unknown', metadata: { comments: ['SKIPPED:TYPE-UNSUPPORTED'] } };",
  "  const text = (await bounty.fetchArtifact()).toString('latin1');",
  "  if (text.includes('LOCKED')) throw new EncryptedFileScanError('password-protected zip');",
  "  if (text.includes('CRASH')) throw new Error('scanner crashed');",
  "  return text.includes(EICAR) ? { verdict: 'malicious', metadata: { malware_family: 'EICAR' } } : { verdict: 'benign' };",
  '}',
  '',
].join('\n');

/** A UDP socket on 127.0.0.1 collecting every StatsD line it receives. */
async function statsdListener(): Promise<{ port: number; lines: string[]; close(): Promise<void> }> {
  const socket: Socket = createSocket('udp4');
  const lines: string[] = [];
  socket.on('message', (msg) => lines.push(...msg.toString('utf8').split('\n').filter(Boolean)));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    port: (socket.address() as AddressInfo).port,
    lines,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** The Prometheus text format's samples of `name`, as `labels → value`. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}
const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe('metrics (built bin)', () => {
  it('start --metrics-port and --statsd: after `test all`, /metrics and the DogStatsD lines show what happened', async () => {
    const project = makeProject({ 'src/scan.mjs': EICAR_SCAN });
    cleanup.push(project.remove);
    const udp = await statsdListener();
    cleanup.push(udp.close);
    const child = track(
      spawnBin(['start', '--port', '0', '--metrics-port', '0', '--statsd', `udp://127.0.0.1:${udp.port}`, '--cwd', project.dir], {
        WEBHOOK_SECRET: SECRET,
        ENGINE_NAME: 'e2e-eicar',
        POLY_WORK: 'ci',
      }),
    );
    const [, url] = await child.waitFor(READY);
    const metricsUrl = /metrics=(\S+)/.exec(child.lines.find((l) => READY.test(l))!)?.[1];
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(new URL(metricsUrl!).port).not.toBe(new URL(url!).port);

    const run = await runBin(['test', 'all', '--url', url!, '--secret', SECRET, '--expiration', '8s'], { cwd: project.dir });
    // Counts below are lower bounds: the suite's cases (and their number) are test all's business, not this test's.
    expect(run.stdout).toMatch(/\b\d+ passed, 0 failed/);

    // A scan that throws a typed error answers unknown with its comment, and counts under its scan_error.
    writeFileSync(join(project.dir, 'locked.zip'), 'LOCKED archive');
    const locked = await runBin(
      ['test', 'bounty', '--url', url!, '--secret', SECRET, '--file', join(project.dir, 'locked.zip'), '--expect', 'unknown', '--json'],
      { cwd: project.dir },
    );
    expect(locked.exitCode).toBe(0);
    expect(locked.stdout).toContain('SKIPPED:ENCRYPTED');
    writeFileSync(join(project.dir, 'crash.bin'), 'CRASH');
    expect(
      (
        await runBin(
          ['test', 'bounty', '--url', url!, '--secret', SECRET, '--file', join(project.dir, 'crash.bin'), '--expect', 'unknown'],
          { cwd: project.dir },
        )
      ).exitCode,
    ).toBe(0);

    const res = await fetch(metricsUrl!);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();

    const answers = samples(text, 'polyswarm_engine_answers_total');
    expect(answers.get('{kind="assertion",verdict="malicious",artifact_type="file"}')).toBeGreaterThanOrEqual(1);
    expect(answers.get('{kind="vote",verdict="malicious",artifact_type="file"}')).toBeGreaterThanOrEqual(1);
    expect(answers.get('{kind="assertion",verdict="benign",artifact_type="file"}')).toBeGreaterThanOrEqual(1);
    // The suite's failure paths (dead artifact hosts) and the two bounties below answer unknown.
    expect(answers.get('{kind="assertion",verdict="unknown",artifact_type="file"}')).toBeGreaterThanOrEqual(2);
    // Every answer here was scanned: the scan-duration histogram counted each one.
    expect(total(samples(text, 'polyswarm_engine_scan_duration_seconds_count'))).toBe(total(answers));
    expect(total(samples(text, 'polyswarm_engine_queue_wait_seconds_count'))).toBe(total(answers));

    const deliveries = samples(text, 'polyswarm_engine_deliveries_total');
    expect(deliveries.get('{event="bounty",status="401"}')).toBeGreaterThanOrEqual(4);
    expect(deliveries.get('{event="bounty",status="400"}')).toBeGreaterThanOrEqual(2);
    expect(deliveries.get('{event="other",status="400"}')).toBe(1);
    expect(deliveries.get('{event="ping",status="200"}')).toBeGreaterThanOrEqual(1);

    const scanErrors = samples(text, 'polyswarm_engine_scan_errors_total');
    expect(scanErrors.get('{scan_error="encryptedfile",artifact_type="file"}')).toBe(1);
    expect(scanErrors.get('{scan_error="unprocessable",artifact_type="file"}')).toBeGreaterThanOrEqual(1);
    expect(samples(text, 'polyswarm_engine_queue_depth').get('')).toBe(0);
    // The default process metrics.
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);

    // The webhook port does not serve the metrics.
    const onWebhook = await fetch(new URL('/metrics', url!));
    expect(await onWebhook.text()).not.toContain('polyswarm_engine_');

    // The reference's DogStatsD names and tags, with the constant tags from the environment.
    await until(() => udp.lines.some((l) => l.startsWith('polyswarm.microengine.scan.verdict:')), 'a scan.verdict line', 5000);
    const verdict = udp.lines.find((l) => l.startsWith('polyswarm.microengine.scan.verdict:') && l.includes('verdict:malicious'));
    expect(verdict).toBeDefined();
    const tags = verdict!.split('|#')[1]!.split(',');
    expect(tags).toEqual(expect.arrayContaining(['type:file', 'verdict:malicious', 'engine_name:e2e-eicar', 'poly_work:ci']));
    // Counters are summed per flush: `name:N|c` is N increments to DogStatsD.
    expect(verdict).toMatch(/^polyswarm\.microengine\.scan\.verdict:\d+\|c\|#/);
    await until(() => udp.lines.some((l) => l.includes('scan_error:encryptedfile')), 'a scan.fail line', 5000);
    expect(udp.lines.find((l) => l.includes('scan_error:encryptedfile'))).toMatch(/^polyswarm\.microengine\.scan\.fail:1\|c\|#/);
    expect(udp.lines.some((l) => /^polyswarm\.microengine\.scan\.time:\d+(\.\d+)?\|ms\|#/.test(l))).toBe(true);

    // Logs say why: the refusals name their reason, the unknown answers their comments, the crash its file:line.
    const out = child.output();
    expect(out).toMatch(/delivery event=bounty .*status=401 reason="Signature does not match body"/);
    expect(out).toMatch(/delivery event=bounty .*status=400 reason="Signature not included in headers"/);
    await child.waitFor(/answer bounty=\S+ verdict=unknown comments=\["SKIPPED:ENCRYPTED","password-protected zip"\]/);
    expect(out).toMatch(/WARN  scan error .*scan_error=encryptedfile error="password-protected zip" at=\S+scan\.mjs:6:\d+/);
    expect(out).toMatch(/ERROR scan failed .*error="scanner crashed" at=\S+scan\.mjs:7:\d+ stack=/);

    child.kill('SIGTERM');
    expect(await child.exited()).toBe(0);
  });

  it('refuses a metrics port equal to the webhook port, and a statsd URL that is not udp://', async () => {
    const project = makeProject({ 'src/scan.mjs': EICAR_SCAN });
    cleanup.push(project.remove);
    const same = await runBin(['start', '--port', '39123', '--metrics-port', '39123', '--cwd', project.dir], {
      env: { WEBHOOK_SECRET: SECRET },
    });
    expect(same.exitCode).toBe(2);
    expect(same.stderr).toContain("--metrics-port 39123 is the webhook's port");
    const tcp = await runBin(['worker', '--queue', 'redis://127.0.0.1:1', '--cwd', project.dir], {
      env: { POLYSWARM_STATSD: 'tcp://127.0.0.1:8125' },
    });
    expect(tcp.exitCode).toBe(2);
    expect(tcp.stderr).toContain('$POLYSWARM_STATSD (for --statsd): "tcp://127.0.0.1:8125" must be a udp:// URL');
  });

  it('Redis mode: the web process counts the deliveries, the worker (its own --metrics-port) the answers it posted', async () => {
    const redis = await startRedis();
    cleanup.push(() => redis.close());
    const project = makeProject({ 'src/scan.mjs': EICAR_SCAN });
    cleanup.push(project.remove);
    const loopback = await startLoopback();
    cleanup.push(loopback.close);
    const web = track(
      spawnBin(['start', '--port', '0', '--metrics-port', '0', '--queue', redis.url, '--cwd', project.dir], { WEBHOOK_SECRET: SECRET }),
    );
    const worker = track(spawnBin(['worker', '--metrics-port', '0', '--queue', redis.url, '--cwd', project.dir]));
    const [, url] = await web.waitFor(READY);
    const [, workerMetrics] = await worker.waitFor(/\bready\b.*metrics=(\S+)/);
    const webMetrics = /metrics=(\S+)/.exec(web.lines.find((l) => READY.test(l))!)![1]!;

    for (const id of ['r1', 'r2', 'r3']) expect(await sendBounty(url!, loopback.url, id)).toBe(202);
    await loopback.waitForAnswers(3);
    const scrape = async (at: string) => (await fetch(at)).text();
    await until(
      async () => samples(await scrape(workerMetrics!), 'polyswarm_engine_answers_total').size > 0,
      'the worker counted its answers',
    );

    const fromWeb = await scrape(webMetrics);
    const fromWorker = await scrape(workerMetrics!);
    expect(samples(fromWeb, 'polyswarm_engine_deliveries_total').get('{event="bounty",status="202"}')).toBe(3);
    expect(total(samples(fromWeb, 'polyswarm_engine_answers_total'))).toBe(0);
    expect(samples(fromWorker, 'polyswarm_engine_answers_total').get('{kind="assertion",verdict="benign",artifact_type="file"}')).toBe(3);
    expect(total(samples(fromWorker, 'polyswarm_engine_deliveries_total'))).toBe(0);
    expect(total(samples(fromWorker, 'polyswarm_engine_scan_duration_seconds_count'))).toBe(3);

    web.kill('SIGTERM');
    worker.kill('SIGTERM');
    expect(await web.exited()).toBe(0);
    expect(await worker.exited()).toBe(0);
  });
});
