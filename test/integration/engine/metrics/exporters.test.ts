/**
 * The exporters as a library user wires them (`polyswarm-engine/metrics`): a real engine on 127.0.0.1, its
 * Prometheus listener scraped over HTTP, and its DogStatsD lines read from a UDP socket.
 */
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../../../src/engine/engine.js';
import { createPrometheusMetrics, createStatsdMetrics, serveMetrics, type MetricsListener } from '../../../../src/engine/metrics/index.js';
import { EncryptedFileScanError } from '../../../../src/engine/scan-errors.js';
import { bountyBody, startLoopback, webhook, type Loopback } from '../../../helpers/loopback.js';
import { until } from '../../../helpers/poll.js';

let lb: Loopback;
let engine: Engine | undefined;
let listener: MetricsListener | undefined;
beforeEach(async () => {
  lb = await startLoopback();
  lb.receiver('/answer');
  lb.artifact('/artifact', 'harmless');
});
afterEach(async () => {
  await engine?.close({ graceMs: 0 });
  await listener?.close();
  engine = undefined;
  listener = undefined;
  await lb.close();
});

const scan = async (b: { id: string }) => {
  if (b.id === 'locked') throw new EncryptedFileScanError('password-protected zip');
  return { verdict: 'benign' as const };
};
const body = (id: string) =>
  bountyBody({
    id,
    response_url: `${lb.origin}/answer`,
    artifact_uri: `${lb.origin}/artifact`,
    expiration: new Date(Date.now() + 10_000).toISOString(),
  });
const send = async (url: string, w: ReturnType<typeof webhook>) =>
  (await fetch(url, { method: 'POST', headers: w.headers, body: w.body })).status;

describe('polyswarm-engine/metrics', () => {
  it('Prometheus: counts deliveries, answers and scan errors; /metrics only, on its own listener', async () => {
    const prom = createPrometheusMetrics({ defaultMetrics: false, labels: { engine_name: 'unit' } });
    engine = createEngine({ secret: 'qwertyuiop', concurrency: 1, observer: prom.observer, module: { scan } });
    prom.setGauges({ queued: () => engine!.stats().queued, running: () => engine!.stats().running });
    const { url } = await engine.listen({ port: 0 });
    listener = await serveMetrics(prom.registry, { port: 0, host: '127.0.0.1' });
    expect(listener.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    expect(await send(url, webhook(body('ok')))).toBe(202);
    expect(await send(url, webhook(body('locked')))).toBe(202);
    expect(await send(url, webhook(body('x'), { secret: 'wrong' }))).toBe(401);
    await lb.waitForAnswers(2);
    await until(async () => (await (await fetch(listener!.url)).text()).includes('verdict="unknown"'), 'the unknown answer counted');
    const text = await (await fetch(listener.url)).text();
    expect(text).toContain('polyswarm_engine_deliveries_total{event="bounty",status="202",engine_name="unit"} 2');
    expect(text).toContain('polyswarm_engine_deliveries_total{event="bounty",status="401",engine_name="unit"} 1');
    expect(text).toContain('polyswarm_engine_answers_total{kind="assertion",verdict="benign",artifact_type="file",engine_name="unit"} 1');
    expect(text).toContain('polyswarm_engine_answers_total{kind="assertion",verdict="unknown",artifact_type="file",engine_name="unit"} 1');
    expect(text).toContain('polyswarm_engine_scan_errors_total{scan_error="encryptedfile",artifact_type="file",engine_name="unit"} 1');
    expect(text).toContain('polyswarm_engine_queue_depth{engine_name="unit"} 0');
    expect(text).not.toContain('process_cpu_seconds_total');

    const elsewhere = await fetch(new URL('/', listener.url));
    expect(elsewhere.status).toBe(404);
    expect((await fetch(listener.url, { method: 'POST' })).status).toBe(405);
  });

  it('DogStatsD: the reference names and tags, counters summed per flush, sent on close', async () => {
    const socket = createSocket('udp4');
    const lines: string[] = [];
    socket.on('message', (m) => lines.push(...m.toString().split('\n').filter(Boolean)));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    try {
      const statsd = createStatsdMetrics({
        host: '127.0.0.1',
        port: (socket.address() as AddressInfo).port,
        tags: { engine_name: 'unit', poly_work: 'test' },
        flushIntervalMs: 60_000,
      });
      engine = createEngine({ secret: 'qwertyuiop', concurrency: 1, observer: statsd.observer, module: { scan } });
      const { url } = await engine.listen({ port: 0 });
      for (const id of ['a', 'b', 'locked']) expect(await send(url, webhook(body(id)))).toBe(202);
      await lb.waitForAnswers(3);
      await engine.idle();
      await statsd.close();
      await until(() => lines.some((l) => l.includes('scan.fail')), 'the lines flushed on close');
      expect(lines).toContain('polyswarm.microengine.scan.verdict:2|c|#engine_name:unit,poly_work:test,type:file,verdict:benign');
      expect(lines).toContain('polyswarm.microengine.scan.success:2|c|#engine_name:unit,poly_work:test,type:file');
      expect(lines).toContain('polyswarm.microengine.scan.fail:1|c|#engine_name:unit,poly_work:test,type:file,scan_error:encryptedfile');
      expect(lines).toContain('polyswarm.microengine.webhook.delivery:3|c|#engine_name:unit,poly_work:test,event:bounty,status:202');
      expect(lines.filter((l) => l.startsWith('polyswarm.microengine.scan.time:'))).toHaveLength(3);
    } finally {
      socket.close();
    }
  });
});
