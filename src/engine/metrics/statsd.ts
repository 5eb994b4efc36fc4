/**
 * DogStatsD / StatsD (hot-shots) on the engine's observer, with the reference engine's metric names and tags, so a
 * Datadog dashboard built for the Python reference keeps working (docs/protocol.md §7):
 *
 * - `polyswarm.microengine.scan.time` (timer, ms; tags `type`, `verdict`): each scan's own time;
 * - `polyswarm.microengine.scan.success` (tag `type`): a scan that returned a verdict;
 * - `polyswarm.microengine.scan.verdict` (tags `type`, `verdict`): the same, by verdict;
 * - `polyswarm.microengine.scan.fail` (tags `type`, `scan_error`): a scan that threw or could not run
 *   (`encryptedfile`, `unprocessable`… and this engine's own `timeout`, `cannot-fetch`…);
 *
 * plus this engine's own `polyswarm.microengine.webhook.delivery` (tags `event`, `status`) and
 * `polyswarm.microengine.answer.sent` / `.answer.fail` (tags `kind`, `verdict` / `reason`). Every metric carries the
 * constant tags `engine_name` and `poly_work`.
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

  const observer: EngineObserver = {
    onDelivery(event) {
      client.increment('microengine.webhook.delivery', 1, { event: eventLabel(event), status: statusLabel(event.status) });
    },
    onScanError(event) {
      if (failed.size >= MAX_PENDING) failed.delete(failed.keys().next().value!);
      failed.set(event.bounty, event.kind);
      client.increment('microengine.scan.fail', 1, { type: event.artifactType, scan_error: event.kind });
    },
    onAnswer(event) {
      const type = event.artifactType;
      const scanError = failed.get(event.bounty);
      failed.delete(event.bounty);
      if (event.scanMs !== null) client.timing('microengine.scan.time', event.scanMs, { type, verdict: event.verdict });
      const skipped = NOT_SCANNED[event.comments[0] ?? ''];
      if (skipped) client.increment('microengine.scan.fail', 1, { type, scan_error: skipped });
      else if (scanError === undefined && event.scanMs !== null) {
        client.increment('microengine.scan.success', 1, { type });
        client.increment('microengine.scan.verdict', 1, { type, verdict: event.verdict });
      }
      if (event.delivered) client.increment('microengine.answer.sent', 1, { kind: event.kind, verdict: event.verdict, type });
      else client.increment('microengine.answer.fail', 1, { reason: failureReason(event), type });
    },
  };
  return {
    observer,
    close: () => new Promise<void>((resolve) => client.close(() => resolve())),
  };
}
