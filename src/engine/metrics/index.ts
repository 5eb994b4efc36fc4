/**
 * `polyswarm-engine/metrics`: the exporters `serve`, `start` and `worker` use, for engines built on `createEngine`
 * or `createRedisWorker` in code. A subpath of its own, so an engine that imports the package's main entry does not
 * load prom-client and hot-shots.
 *
 *   const prom = createPrometheusMetrics();
 *   const engine = createEngine({ secret, module, observer: prom.observer });
 *   prom.setGauges({ queued: () => engine.stats().queued, running: () => engine.stats().running });
 *   await serveMetrics(prom.registry, { port: 9464, host: '127.0.0.1' });
 */
export { createPrometheusMetrics, serveMetrics, SCAN_BUCKETS, WAIT_BUCKETS } from './prometheus.js';
export type { MetricsGauges, MetricsListener, PrometheusMetrics, PrometheusMetricsOptions } from './prometheus.js';
export { createStatsdMetrics } from './statsd.js';
export type { StatsdMetrics, StatsdMetricsOptions } from './statsd.js';
export { parseStatsdUrl } from './statsd-url.js';
export type { StatsdTarget } from './statsd-url.js';
