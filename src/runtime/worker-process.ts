/**
 * `worker` as a process: find the project, load its scan module, take jobs from the Redis queue until SIGTERM, and
 * hand the rest (signals, ready line, graceful stop, exit codes) to the process host, exactly as `serve` and `start`
 * do. The configuration arrives resolved (runtime/config.ts); nothing here reads the environment for a setting.
 */
import { setEgressPolicy, type EgressMode } from '../engine/egress.js';
import { combineObservers } from '../engine/observer.js';
import { loadScanModule } from '../engine/loader.js';
import { createRedisWorker } from '../engine/worker.js';
import { loadDotEnv } from '../util/env.js';
import { UsageError } from '../util/errors.js';
import { createLogger, type LogFormat, type LogLevel } from '../util/logger.js';
import { findProject } from '../util/project.js';
import { openRecorder } from '../inspector/attach.js';
import { hostProcess } from './host.js';
import { startMetrics, type MetricsConfig } from './metrics.js';
import { sharedQueueName } from './queue-name.js';
import { sweepArtifacts } from './sweep.js';

export interface WorkerProcessConfig extends MetricsConfig {
  cwd: string;
  /** `--queue` / POLYSWARM_QUEUE_URL; required. */
  queue?: string;
  /** `--queue-name` / POLYSWARM_QUEUE_NAME (default: the project's package name, as for `start`). */
  queueName?: string;
  concurrency?: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
  grace: number;
  lockDuration: number;
  /** Where downloads and answers may connect (default `public`). */
  egress?: EgressMode;
  /** `--egress-allow` entries. */
  egressAllow?: string[];
  /** `--record FILE`: one JSON line per bounty this worker takes, its rotation size and the artifacts folder. */
  record?: string;
  recordMaxBytes?: number;
  recordArtifacts?: string;
  stdout?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  signals?: NodeJS.Process;
}

/** How long the worker waits for Redis before saying so (it keeps waiting). */
const WAITING_LOG_MS = 2000;

/** Runs scan workers against the Redis queue until SIGINT/SIGTERM (exit codes: runtime/host.ts). */
export async function runWorkerProcess(config: WorkerProcessConfig): Promise<number> {
  const out = config.stdout ?? process.stdout;
  if (!config.queue) {
    throw new UsageError('worker needs a Redis queue to take bounties from', {
      hint: 'Pass --queue redis://host:port[/db], or set POLYSWARM_QUEUE_URL (also read from the project’s .env).',
    });
  }
  const { parseRedisUrl, preflight } = await import('../engine/redis/index.js');
  const target = parseRedisUrl(config.queue);
  const project = findProject(config.cwd);
  const { queueName, engine } = sharedQueueName(project.dir, config.queueName);
  // The scan code may read its own settings (CLAMAV_DATABASE, …) from the project's .env.
  loadDotEnv(project.dir, config.env ?? process.env);
  const logger = createLogger({ stream: out, format: config.logFormat, level: config.logLevel, timestamps: true });
  const readyLog = createLogger({ stream: out, format: config.logFormat, level: 'info', timestamps: true });
  const module = await loadScanModule(project.scanFile, { root: project.dir });
  // Exit 2 for a Redis that would evict bounties, or a queue another engine's web process fills (this code would
  // answer its bounties). A Redis still down is checked by the web process when it connects.
  await preflight(target, { queueName, engine, role: 'worker', logger, timeoutMs: WAITING_LOG_MS });
  sweepArtifacts(logger);
  setEgressPolicy({ mode: config.egress ?? 'public', allow: config.egressAllow ?? [] });

  return hostProcess(
    async () => {
      const metrics = await startMetrics(config, { logger, env: config.env ?? process.env, projectDir: project.dir });
      let worker: ReturnType<typeof createRedisWorker>;
      let recorder: ReturnType<typeof openRecorder>;
      try {
        recorder = openRecorder(config, logger);
        worker = createRedisWorker({
          queue: target,
          queueName,
          module,
          concurrency: config.concurrency,
          lockDurationMs: config.lockDuration,
          logger,
          observer: recorder ? combineObservers([metrics.observer, recorder.observer]) : metrics.observer,
        });
      } catch (error) {
        recorder?.close();
        await metrics.close();
        throw error;
      }
      metrics.setGauges({ running: () => worker.stats().running });
      return {
        async ready() {
          const waiting = setTimeout(() => logger.warn('waiting for Redis', { queue: worker.queue }), WAITING_LOG_MS);
          try {
            await worker.ready();
          } finally {
            clearTimeout(waiting);
          }
        },
        readyFields: () => ({
          queue: worker.queue,
          queue_name: queueName,
          concurrency: worker.concurrency,
          scan: project.scanFile,
          egress: config.egress ?? 'public',
          pid: process.pid,
          metrics: metrics.url,
          ...(recorder ? { record: config.record } : {}),
        }),
        async stop(graceMs) {
          await worker.close({ graceMs });
          recorder?.close();
          await metrics.close();
        },
        abort() {
          // Jobs this worker still holds go back to the queue when their locks expire: another worker answers them.
          logger.warn('stopped at once: jobs still held go to another worker when their locks expire', { running: worker.stats().running });
        },
      };
    },
    { logger, readyLog, graceMs: config.grace, interactive: false, signals: config.signals },
  );
}
