/**
 * Opening an engine project, once for `serve`, `start` and `worker`: the folder, its `.env`, the loggers, the egress
 * policy, then (inside the process host) the temp sweep, the scan module, metrics and the recorder.
 */
import { resolve } from 'node:path';
import type { EgressMode, EgressPolicy } from '../engine/egress.js';
import { loadScanModule } from '../engine/loader.js';
import type { ScanModule } from '../engine/types.js';
import { DEFAULTS } from '../engine/defaults.js';
import { createRecorder, type Recorder } from '../inspector/recorder.js';
import { DEFAULT_RECORD_MAX_BYTES } from '../inspector/defaults.js';
import { loadDotEnv } from '../util/env.js';
import { errorMessage, UsageError } from '../util/errors.js';
import { createLogger, type LogFormat, type Logger, type LogLevel } from '../util/logger.js';
import { findProject, type EngineProject } from '../util/project.js';
import { startMetrics, type MetricsConfig, type ProcessMetrics } from './metrics.js';
import type { QueueConnectionConfig } from './queue-name.js';
import { sweepArtifacts } from './sweep.js';

/** What every engine process is configured with (runtime/config.ts resolved it). */
export interface ProjectProcessConfig extends MetricsConfig, QueueConnectionConfig {
  cwd: string;
  logFormat: LogFormat;
  logLevel: LogLevel;
  /** `--queue`: a Redis URL (`worker` requires one), `memory`, or absent (the embedded, journaled queue). */
  queue?: string;
  queueName?: string;
  concurrency?: number;
  grace: number;
  lockDuration: number;
  egress?: EgressMode;
  egressAllow?: string[];
  record?: string;
  recordMaxBytes?: number;
  recordArtifacts?: string;
  /** Where logs go (default stdout). */
  stdout?: NodeJS.WritableStream;
  /** Receives the project's `.env` for the scan code to read (default process.env; the real environment wins). */
  env?: NodeJS.ProcessEnv;
  /** What emits SIGINT/SIGTERM and uncaught errors (default `process`). */
  signals?: NodeJS.Process;
}

export interface OpenProject {
  project: EngineProject;
  env: NodeJS.ProcessEnv;
  out: NodeJS.WritableStream;
  logger: Logger;
  /** The ready line is printed whatever the log level says. */
  readyLog: Logger;
  egress: EgressPolicy;
  /** `public`, or `any + 10.0.0.0/8`, for banners and ready lines. */
  egressText: string;
}

/** Finds the project and sets up what every engine process has; `.env` is loaded now unless `followEnv` (serve's watcher). */
export function openProject(config: ProjectProcessConfig, options: { followEnv: boolean; egress: EgressMode }): OpenProject {
  const out = config.stdout ?? process.stdout;
  const project = findProject(config.cwd);
  // The scan code may read its own settings (CLAMAV_DATABASE, …) from the project's .env.
  const env = config.env ?? process.env;
  if (!options.followEnv) loadDotEnv(project.dir, env);
  const egress: EgressPolicy = { mode: config.egress ?? options.egress, allow: config.egressAllow ?? [] };
  return {
    project,
    env,
    out,
    logger: createLogger({ stream: out, format: config.logFormat, level: config.logLevel, timestamps: true }),
    readyLog: createLogger({ stream: out, format: config.logFormat, level: 'info', timestamps: true }),
    egress,
    egressText: `${egress.mode}${egress.allow.length > 0 ? ` + ${egress.allow.join(',')}` : ''}`,
  };
}

export interface ProjectParts {
  module: ScanModule;
  metrics: ProcessMetrics;
  /** With `--record`. */
  recorder?: Recorder;
  /** Closes what this opened (metrics, recorder); the module needs nothing. */
  close(): Promise<void>;
}

/**
 * Inside the process host: sweeps the artifacts a killed run left, loads the scan module (`fresh`: serve), starts
 * metrics and opens the recorder; on a failure, closes what it opened.
 */
export async function startProject(
  open: OpenProject,
  config: ProjectProcessConfig,
  options: { fresh: boolean; webhook?: { host: string; port: number } },
): Promise<ProjectParts> {
  sweepArtifacts(open.logger);
  const module = await loadScanModule(open.project.scanFile, { fresh: options.fresh, root: open.project.dir });
  const metrics = await startMetrics(config, {
    logger: open.logger,
    env: open.env,
    projectDir: open.project.dir,
    webhook: options.webhook,
  });
  let recorder: Recorder | undefined;
  try {
    recorder = openRecorder(config, open.logger);
  } catch (error) {
    await metrics.close();
    throw error;
  }
  return {
    module,
    metrics,
    recorder,
    async close() {
      recorder?.close();
      await metrics.close();
    },
  };
}

/** The recorder of `--record FILE` (relative to `--cwd`); a file that cannot be written is a usage error naming it. */
function openRecorder(config: ProjectProcessConfig, logger: Logger): Recorder | undefined {
  if (config.record === undefined) return undefined;
  const file = resolve(config.cwd, config.record);
  let recorder: Recorder;
  try {
    recorder = createRecorder({
      file,
      maxBytes: config.recordMaxBytes ?? DEFAULT_RECORD_MAX_BYTES,
      maxBodyBytes: DEFAULTS.maxBodyBytes,
      artifactsDir: config.recordArtifacts === undefined ? undefined : resolve(config.cwd, config.recordArtifacts),
      logger,
    });
  } catch (error) {
    throw new UsageError(`--record ${config.record}: cannot write ${file} (${errorMessage(error)})`);
  }
  logger.info('recording', { file, artifacts: config.recordArtifacts ?? 'not recorded' });
  return recorder;
}
