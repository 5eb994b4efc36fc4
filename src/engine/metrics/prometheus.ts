/**
 * Prometheus metrics (prom-client, names in docs/metrics.md) on the engine's observer. `serveMetrics` exposes them on
 * a listener of their own, never the webhook's port (which faces the internet). Each process counts what it did
 * itself (with Redis: the web process its deliveries, each worker its answers); Prometheus adds them up.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineObserver } from '../observer.js';
import { eventLabel, failureReason, statusLabel } from './labels.js';

/** Scan times, in seconds: a hash lookup (ms) to a sandbox run (minutes); bounties live for minutes at most. */
export const SCAN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Time from the webhook's arrival to the scan's start, in seconds. */
export const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];

/** What the gauges read when scraped. */
export interface MetricsGauges {
  /** Bounties waiting for a scan in this process. */
  queued?: () => number;
  /** Scans running in this process. */
  running?: () => number;
}

export interface PrometheusMetrics {
  readonly registry: Registry;
  /** Feed it to `createEngine({ observer })` or `createRedisWorker({ observer })`. */
  readonly observer: EngineObserver;
  /** Where the gauges read from; set once the engine or worker exists. */
  setGauges(gauges: MetricsGauges): void;
}

export interface PrometheusMetricsOptions {
  /** Default: a registry of its own (the process-wide default registry is left alone). */
  registry?: Registry;
  /** Node's process metrics (CPU, memory, event loop lag, GC); default true. */
  defaultMetrics?: boolean;
  /** Labels on every metric, e.g. `{ engine_name: 'clamav' }`. */
  labels?: Record<string, string>;
}

/** Builds the metrics and the observer that feeds them. */
export function createPrometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const registry = options.registry ?? new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let gauges: MetricsGauges = {};

  // Requests are tallied in a plain map and added to the counter when it is scraped: prom-client hashes and
  // checks the labels on every inc (~0.5 µs), which the webhook's hot path should not pay for each request.
  const deliveryTally = new Map<string, { labels: { event: string; status: string }; n: number }>();
  new Counter({
    name: 'polyswarm_engine_deliveries_total',
    help: 'Webhook requests by event (bounty, ping, liveness, none, other) and the HTTP status they were answered',
    labelNames: ['event', 'status'] as const,
    registers,
    collect() {
      for (const tally of deliveryTally.values()) {
        if (tally.n === 0) continue;
        this.inc(tally.labels, tally.n);
        tally.n = 0;
      }
    },
  });
  const answers = new Counter({
    name: 'polyswarm_engine_answers_total',
    help: 'Answers posted and accepted by the receiver, by kind (assertion or vote), verdict and artifact type',
    labelNames: ['kind', 'verdict', 'artifact_type'] as const,
    registers,
  });
  const failures = new Counter({
    name: 'polyswarm_engine_answer_failures_total',
    help: 'Answers that could not be delivered, by reason (http_<status>, redirect, egress_refused, expired, a network error code…)',
    labelNames: ['reason'] as const,
    registers,
  });
  const scanErrors = new Counter({
    name: 'polyswarm_engine_scan_errors_total',
    help: 'Scans that gave no verdict, by scan_error (a typed scan error kind, unprocessable, or an artifact error) and artifact type',
    labelNames: ['scan_error', 'artifact_type'] as const,
    registers,
  });
  const scanDuration = new Histogram({
    name: 'polyswarm_engine_scan_duration_seconds',
    help: 'Time spent in the scan function, by artifact type and the verdict answered',
    labelNames: ['artifact_type', 'verdict'] as const,
    buckets: SCAN_BUCKETS,
    registers,
  });
  const queueWait = new Histogram({
    name: 'polyswarm_engine_queue_wait_seconds',
    help: 'Time from the webhook to the scan start (or to the answer, for a bounty not scanned)',
    buckets: WAIT_BUCKETS,
    registers,
  });
  new Gauge({
    name: 'polyswarm_engine_queue_depth',
    help: 'Bounties waiting for a scan in this process',
    registers,
    collect() {
      this.set(gauges.queued?.() ?? 0);
    },
  });
  new Gauge({
    name: 'polyswarm_engine_scans_running',
    help: 'Scans running in this process',
    registers,
    collect() {
      this.set(gauges.running?.() ?? 0);
    },
  });

  const observer: EngineObserver = {
    onDelivery(event) {
      const e = eventLabel(event);
      const s = statusLabel(event.status);
      const key = `${e} ${s}`;
      const tally = deliveryTally.get(key);
      if (tally) tally.n++;
      else deliveryTally.set(key, { labels: { event: e, status: s }, n: 1 });
    },
    onAnswer(event) {
      if (event.delivered) answers.inc({ kind: event.kind, verdict: event.verdict, artifact_type: event.artifactType });
      else failures.inc({ reason: failureReason(event) });
      if (event.scanMs !== null) scanDuration.observe({ artifact_type: event.artifactType, verdict: event.verdict }, event.scanMs / 1000);
      queueWait.observe(event.queueWaitMs / 1000);
    },
    onScanError(event) {
      scanErrors.inc({ scan_error: event.kind, artifact_type: event.artifactType });
    },
  };
  return { registry, observer, setGauges: (g) => void (gauges = g) };
}

export interface MetricsListener {
  /** `http://host:port/metrics`. */
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** Serves `registry` at `GET /metrics` on `host:port` (port 0 picks one); every other path is 404. */
export async function serveMetrics(registry: Registry, options: { port: number; host: string }): Promise<MetricsListener> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(error)}\n`),
    );
  });
  // A scraper polls every few seconds; an idle keep-alive socket should not outlive it by much.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${port}/metrics`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
