/**
 * The metrics of a `serve`, `start` or `worker` process: Prometheus on `--metrics-port` (its own listener, never the
 * webhook's port) and DogStatsD on `--statsd`, both fed by the engine's observer. Nothing is loaded when neither is
 * asked for.
 */
import { basename } from 'node:path';
import type { EngineObserver } from '../engine/observer.js';
import { combineObservers } from '../engine/observer.js';
import type { MetricsGauges } from '../engine/metrics/prometheus.js';
import type { StatsdTarget } from '../engine/metrics/statsd-url.js';
import { errorMessage, UsageError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

export interface MetricsConfig {
  metricsPort?: number;
  metricsHost?: string;
  statsd?: StatsdTarget;
}

export interface ProcessMetrics {
  /** For createEngine / createRedisWorker; undefined when no metrics were asked for (the engine then skips timing). */
  observer?: EngineObserver;
  /** The scrape URL, when Prometheus is on. */
  url?: string;
  setGauges(gauges: MetricsGauges): void;
  close(): Promise<void>;
}

/** Default 127.0.0.1: the metrics tell how the engine is doing; expose them on purpose (`--metrics-host 0.0.0.0`). */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

/** Starts what `config` asks for; the StatsD tags from ENGINE_NAME and POLY_WORK (default: the folder's name, `local`). */
export async function startMetrics(
  config: MetricsConfig,
  context: { logger: Logger; env: NodeJS.ProcessEnv; projectDir: string; webhook?: { host: string; port: number } },
): Promise<ProcessMetrics> {
  const observers: EngineObserver[] = [];
  const closers: (() => Promise<void>)[] = [];
  let setGauges: (gauges: MetricsGauges) => void = () => {};
  let url: string | undefined;

  if (config.metricsPort !== undefined) {
    const host = config.metricsHost ?? DEFAULT_METRICS_HOST;
    const { webhook } = context;
    if (webhook && webhook.port !== 0 && webhook.port === config.metricsPort) {
      throw new UsageError(`--metrics-port ${config.metricsPort} is the webhook's port: the metrics get a listener of their own`, {
        hint: 'Pick another port for --metrics-port (POLYSWARM_METRICS_PORT), e.g. 9464.',
      });
    }
    const { createPrometheusMetrics, serveMetrics } = await import('../engine/metrics/prometheus.js');
    const metrics = createPrometheusMetrics();
    try {
      const listener = await serveMetrics(metrics.registry, { port: config.metricsPort, host });
      url = listener.url;
      closers.push(() => listener.close());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'the port is in use' : errorMessage(error);
      throw new UsageError(`cannot serve metrics on ${host}:${config.metricsPort}: ${why}`, {
        hint: 'Pick another --metrics-port (POLYSWARM_METRICS_PORT), or 0 for a free one.',
      });
    }
    observers.push(metrics.observer);
    setGauges = metrics.setGauges;
  }

  if (config.statsd) {
    const { createStatsdMetrics } = await import('../engine/metrics/statsd.js');
    const target = config.statsd;
    const statsd = createStatsdMetrics({
      ...target,
      tags: {
        engine_name: context.env.ENGINE_NAME || basename(context.projectDir),
        poly_work: context.env.POLY_WORK || 'local',
      },
      onError: (error) =>
        context.logger.warn('statsd: cannot send metrics (said once)', { to: `${target.host}:${target.port}`, error: errorMessage(error) }),
    });
    observers.push(statsd.observer);
    closers.push(() => statsd.close());
  }

  return {
    observer: observers.length === 0 ? undefined : combineObservers(observers),
    url,
    setGauges: (gauges) => setGauges(gauges),
    async close() {
      await Promise.allSettled(closers.map((close) => close()));
    },
  };
}
