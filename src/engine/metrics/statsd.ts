/**
 * DogStatsD / StatsD (hot-shots) on the engine's observer, with the reference engine's metric names and tags (listed
 * in docs/metrics.md), so a Datadog dashboard built for the Python reference keeps working (docs/protocol.md §7).
 */
import { StatsD } from 'hot-shots';
import type { EngineObserver } from '../observer.js';
import { eventLabel, failureReason, statusLabel } from './labels.js';
import type { StatsdTarget } from './statsd-url.js';

export interface StatsdMetricsOptions extends StatsdTarget {
  /** The constant tags: `{ engine_name, poly_work }` (and any others). */
  tags: Record<string, string>;
  /** A send failed (agent down…): said once, not per metric. */
  onError?: (error: Error) => void;
  /** Milliseconds between flushes of the buffered lines (default 1000). */
  flushIntervalMs?: number;
}

export interface StatsdMetrics {
  readonly observer: EngineObserver;
  /** Sends what is buffered and closes the socket. */
  close(): Promise<void>;
}

/** Comments that mean the scan did not run to a verdict although no scan error was reported. */
const NOT_SCANNED: Record<string, string> = { 'SKIPPED:TIMEOUT': 'timeout', 'SKIPPED:SHUTDOWN': 'shutdown' };
/** Scan errors seen and not yet answered (a bounty's error comes before its answer); bounded against leaks. */
const MAX_PENDING = 10_000;

export function createStatsdMetrics(options: StatsdMetricsOptions): StatsdMetrics {
  let reported = false;
  const client = new StatsD({
    host: options.host,
    port: options.port,
    protocol: 'udp',
    prefix: 'polyswarm.',
    globalTags: options.tags,
    // Lines are batched into datagrams under a typical MTU and sent at least every second: one syscall per webhook
    // would cost the server's throughput (npm run bench, figure 1).
    maxBufferSize: 1400,
    bufferFlushInterval: options.flushIntervalMs ?? 1000,
    errorHandler: (error) => {
      if (reported) return;
      reported = true;
      options.onError?.(error);
    },
  });
  const failed = new Map<string, string>();

  // Counters are added up here and sent once per flush (`name:N|c`), which DogStatsD and StatsD read as N
  // increments: a line per webhook cost the server about 10 µs of CPU a request, a map lookup costs 0.1 µs.
  const counts = new Map<string, { name: string; tags: Record<string, string>; n: number }>();
  const count = (name: string, tags: Record<string, string>) => {
    let key = name;
    for (const k in tags) key += `|${tags[k]}`;
    const entry = counts.get(key);
    if (entry) entry.n++;
    else counts.set(key, { name, tags, n: 1 });
  };
  const deliveries = new Map<string, { name: string; tags: Record<string, string>; n: number }>();
  const flush = () => {
    for (const entry of counts.values()) {
      if (entry.n === 0) continue;
      client.increment(entry.name, entry.n, entry.tags);
      entry.n = 0;
    }
  };
  const timer = setInterval(flush, options.flushIntervalMs ?? 1000);
  timer.unref();

  const observer: EngineObserver = {
    onDelivery(event) {
      // The hot path: keyed by the two labels without building the tags object each time.
      const e = eventLabel(event);
      const s = statusLabel(event.status);
      const key = `${e} ${s}`;
      let entry = deliveries.get(key);
      if (!entry) {
        entry = { name: 'microengine.webhook.delivery', tags: { event: e, status: s }, n: 0 };
        deliveries.set(key, entry);
        counts.set(`delivery|${key}`, entry);
      }
      entry.n++;
    },
    onScanError(event) {
      if (failed.size >= MAX_PENDING) failed.delete(failed.keys().next().value!);
      failed.set(event.bounty, event.kind);
      count('microengine.scan.fail', { type: event.artifactType, scan_error: event.kind });
    },
    onAnswer(event) {
      const type = event.artifactType;
      const scanError = failed.get(event.bounty);
      failed.delete(event.bounty);
      if (event.scanMs !== null) client.timing('microengine.scan.time', event.scanMs, { type, verdict: event.verdict });
      const skipped = NOT_SCANNED[event.comments[0] ?? ''];
      if (skipped) count('microengine.scan.fail', { type, scan_error: skipped });
      else if (scanError === undefined && event.scanMs !== null) {
        count('microengine.scan.success', { type });
        count('microengine.scan.verdict', { type, verdict: event.verdict });
      }
      if (event.delivered) count('microengine.answer.sent', { kind: event.kind, verdict: event.verdict, type });
      else count('microengine.answer.fail', { reason: failureReason(event), type });
    },
  };
  return {
    observer,
    close: () => {
      clearInterval(timer);
      flush();
      return new Promise<void>((resolve) => client.close(() => resolve()));
    },
  };
}
