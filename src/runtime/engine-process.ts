/**
 * `serve` and `start` as processes: find the project, load the scan module, build the engine with the queue the
 * configuration names, listen, and hand the rest (signals, ready line, graceful stop) to the process host.
 * The configuration arrives resolved (runtime/config.ts); nothing here reads the environment for a setting.
 */
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { setEgressPolicy, type EgressMode } from '../engine/egress.js';
import { createEngine } from '../engine/engine.js';
import { createWatchers } from '../inspector/attach.js';
import { loadScanModule, ScanModuleError } from '../engine/loader.js';
import { watchScanModule, type ReloadOutcome, type ScanModuleWatcher } from '../engine/reload.js';
import { loadDotEnv } from '../util/env.js';
import { errorMessage, UsageError } from '../util/errors.js';
import { createLogger, theme, type LogFormat, type LogLevel } from '../util/logger.js';
import { findProject, otherLiveServe, removeServeState, writeServeState, type EngineProject, type ServeState } from '../util/project.js';
import { watchDotEnv } from './dotenv-watch.js';
import type { ValueSource } from './options.js';
import { hostProcess } from './host.js';
import { codeFrameObserver } from './code-frame.js';
import { startMetrics, type MetricsConfig } from './metrics.js';
import { combineObservers } from '../engine/observer.js';
import { queueFromConfig } from './queue.js';
import { sweepArtifacts } from './sweep.js';
import { connectableUrl, listenError, listenForDevelopment, printBanner, type Listening } from './listen.js';

export { connectableUrl } from './listen.js';

/** The resolved configuration of `serve` / `start`. */
export interface EngineProcessConfig extends MetricsConfig {
  /** `serve`: listhen, hot reload, banner, state file. `start`: strict server timeouts, no watcher. */
  mode: 'serve' | 'start';
  cwd: string;
  port: number;
  /** Where the port came from when the user named it (`--port`, `$PORT`, `PORT in …/.env`); unset for the default. */
  portOrigin?: string;
  host: string;
  secret?: string;
  /** True when the secret came from the command line (where `ps` shows it). */
  secretFlag?: boolean;
  /** Where the secret came from: the command line, the environment or the project's .env. */
  secretFrom?: ValueSource;
  /** `--secret-file` / WEBHOOK_SECRET_FILE: a file holding the secret. */
  secretFile?: string;
  /** Where the secret file's path came from (a flag beats a variable, the environment beats .env). */
  secretFileFrom?: ValueSource;
  /** True when the previous secret came from the command line. */
  previousSecretFlag?: boolean;
  /** Where the secret came from, for the banner (`WEBHOOK_SECRET in /x/.env`); never the secret. */
  secretSource?: string;
  /** During a rotation, the previous secret, still accepted. */
  previousSecret?: string;
  /** Where downloads and answers may connect (default: `any` for serve, `public` for start). */
  egress?: EgressMode;
  /** `--egress-allow` entries. */
  egressAllow?: string[];
  concurrency?: number;
  queue?: string;
  /** `--queue-name`: the Redis queue's name (default: the project's package name). */
  queueName?: string;
  stateDir?: string;
  maxQueued?: number;
  maxQueuedBytes?: number;
  withWorker?: boolean;
  /** serve only; default true. */
  watch?: boolean;
  /** serve only: the inspector page (default on), its port and history bound (inspector/attach.ts). */
  inspector?: boolean;
  inspectorPort?: number;
  inspectorHistory?: number;
  /** start only: the recording (`--record`), its rotation size and the artifacts folder. */
  record?: string;
  recordMaxBytes?: number;
  recordArtifacts?: string;
  logFormat: LogFormat;
  logLevel: LogLevel;
  grace: number;
  lockDuration: number;
  /** Where logs and the banner go (default stdout). */
  stdout?: NodeJS.WritableStream;
  /** Receives the project's `.env` for the scan code to read (default process.env; the real environment wins). */
  env?: NodeJS.ProcessEnv;
  /** What emits SIGINT/SIGTERM and uncaught errors (default `process`). */
  signals?: NodeJS.Process;
}

function missingSecret(mode: EngineProcessConfig['mode'], project: EngineProject): UsageError {
  const envFile = join(project.dir, '.env');
  return mode === 'start'
    ? new UsageError('WEBHOOK_SECRET is not set: `start` will not run an engine that cannot check signatures', {
        hint: `Set WEBHOOK_SECRET (or PSENGINE_WEBHOOK_SECRET) in the environment or in ${envFile}.`,
      })
    : new UsageError('no webhook secret: `serve` needs WEBHOOK_SECRET to check the signatures of incoming events', {
        hint: `Run \`polyswarm-engine secret --write\` to give ${envFile} a new random one (a fresh clone has no .env: it is git-ignored), or set WEBHOOK_SECRET in the environment.`,
      });
}

const RANK: Record<ValueSource, number> = { flag: 3, env: 2, dotenv: 1, default: 0 };

/**
 * The webhook secret, from `--secret`/WEBHOOK_SECRET or from the file `--secret-file`/WEBHOOK_SECRET_FILE names:
 * whichever comes from the higher layer (the command line, then the environment, then the project's .env); both
 * from the same layer are ambiguous, so refused.
 */
export function resolveSecret(
  config: Pick<EngineProcessConfig, 'cwd' | 'secret' | 'secretFrom' | 'secretFile' | 'secretFileFrom' | 'secretSource'>,
): {
  secret?: string;
  source?: string;
} {
  const { secret, secretFile } = config;
  if (secretFile === undefined) return { secret, source: config.secretSource };
  const secretRank = secret === undefined ? -1 : RANK[config.secretFrom ?? 'flag'];
  const fileRank = RANK[config.secretFileFrom ?? 'flag'];
  if (secretRank === fileRank) {
    throw new UsageError(
      config.secretFrom === 'flag' || config.secretFrom === undefined
        ? 'both --secret and --secret-file are given'
        : `both WEBHOOK_SECRET and WEBHOOK_SECRET_FILE are set${config.secretFrom === 'dotenv' ? ' in .env' : ''}`,
      { hint: 'Keep one: --secret-file (or WEBHOOK_SECRET_FILE) keeps the secret out of `ps` and the environment.' },
    );
  }
  if (secretRank > fileRank) return { secret, source: config.secretSource };
  // A flag's path is relative to where the command runs; a variable's (possibly from .env) to the project.
  const path =
    config.secretFileFrom === 'flag' || config.secretFileFrom === undefined ? resolve(secretFile) : resolve(config.cwd, secretFile);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read the webhook secret file ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : errorMessage(error)}`,
      {
        hint: 'Pass --secret-file <path> (or WEBHOOK_SECRET_FILE) naming a readable file that holds the secret.',
      },
    );
  }
  // A trailing newline (echo, most editors) is not part of the secret.
  const value = text.replace(/\r?\n$/, '');
  if (value.trim() === '') throw new UsageError(`the webhook secret file ${path} is empty`, { hint: 'Write the secret in it (one line).' });
  if (/[\r\n]/.test(value)) {
    throw new UsageError(`the webhook secret file ${path} holds more than one line`, { hint: 'Keep only the secret in it, on one line.' });
  }
  return { secret: value, source: path };
}

/**
 * Runs the engine project in `config.cwd` until SIGINT/SIGTERM (see runtime/host.ts for the exit codes). Throws
 * UsageError (exit 2) for a missing project, secret or scan export, a module that does not load, or a port that
 * cannot be used.
 */
export async function runEngineProcess(config: EngineProcessConfig): Promise<number> {
  const out = config.stdout ?? process.stdout;
  const project = findProject(config.cwd);
  const { secret, source: secretSource } = resolveSecret(config);
  if (!secret) throw missingSecret(config.mode, project);
  // The scan code may read its own settings (CLAMAV_DATABASE, …) from the project's .env; serve keeps them in step
  // with the file (runtime/dotenv-watch.ts), start reads them once.
  const env = config.env ?? process.env;
  const followEnv = config.mode === 'serve' && config.watch !== false;
  if (!followEnv) loadDotEnv(project.dir, env);

  const logger = createLogger({ stream: out, format: config.logFormat, level: config.logLevel, timestamps: true });
  const readyLog = createLogger({ stream: out, format: config.logFormat, level: 'info', timestamps: true });
  // Every long-running process says so: its command line stays visible in `ps` for as long as it runs.
  for (const [given, flag] of [
    [config.secretFlag && secretSource === config.secretSource, '--secret'],
    [config.previousSecretFlag, '--previous-secret'],
  ] as const) {
    if (!given) continue;
    logger.warn(`a webhook secret was given with ${flag}, where \`ps\` shows it to every user of this machine`, {
      hint: 'use --secret-file (WEBHOOK_SECRET_FILE), or set WEBHOOK_SECRET in the environment or the project’s .env',
    });
  }
  const serve = config.mode === 'serve';
  const egress = { mode: config.egress ?? (serve ? 'any' : 'public'), allow: config.egressAllow ?? [] } as const;
  setEgressPolicy(egress);
  const egressText = `${egress.mode}${egress.allow.length > 0 ? ` + ${egress.allow.join(',')}` : ''}`;
  const scanPath = relative(project.dir, project.scanFile).split('\\').join('/');
  let url = '';

  return hostProcess(
    async () => {
      const envWatcher = followEnv ? await watchDotEnv(project.dir, env, logger) : undefined;
      let queue: Awaited<ReturnType<typeof queueFromConfig>>;
      let initial: Awaited<ReturnType<typeof loadScanModule>>;
      try {
        queue = await queueFromConfig({
          command: config.mode,
          url: config.queue,
          queueName: config.queueName,
          maxQueued: config.maxQueued,
          maxQueuedBytes: config.maxQueuedBytes,
          projectDir: project.dir,
          stateDir: config.stateDir === undefined ? undefined : resolve(config.cwd, config.stateDir),
          withWorker: config.withWorker,
          concurrency: config.concurrency,
          lockDurationMs: config.lockDuration,
          logger,
        });
        // Artifacts (malware samples) a killed run left in the temp folder go before anything else starts.
        sweepArtifacts(logger);
        initial = await loadScanModule(project.scanFile, { fresh: serve, root: project.dir });
      } catch (error) {
        await envWatcher?.close();
        // The loader's hint says "save (serve reloads)", true of a reload; at startup this process is about to exit.
        if (error instanceof ScanModuleError && error.hint?.includes('serve reloads')) {
          throw new UsageError(error.message, { hint: 'Fix it, then run the command again.', cause: error });
        }
        throw error;
      }
      let watcher: ScanModuleWatcher | undefined;
      // serve.json says when the last save did not load, so `test` can tell the user it is testing older code.
      let state: ServeState | undefined;
      const onReload = (outcome: ReloadOutcome) => {
        if (!state) return;
        const stale = outcome.ok
          ? undefined
          : outcome.error instanceof ScanModuleError
            ? `${outcome.error.where}: ${outcome.error.reason}`
            : errorMessage(outcome.error);
        if (stale === state.stale) return;
        state = { ...state, stale };
        if (!stale) delete state.stale;
        writeServeState(project.dir, state);
      };
      if (serve && config.watch !== false) watcher = await watchScanModule({ project, initial, logger, onReload });
      const current = watcher;
      const metrics = await startMetrics(config, {
        logger,
        env: config.env ?? process.env,
        projectDir: project.dir,
        webhook: config,
      }).catch(async (error: unknown) => {
        await watcher?.close();
        await queue.close?.();
        throw error;
      });
      const watchers = createWatchers({ ...config, secret }, logger);
      const engine = createEngine({
        secret,
        previousSecret: config.previousSecret,
        module: current ? () => current.current() : initial,
        concurrency: config.concurrency,
        logger: watchers.logger(logger),
        queue: queue.queue,
        deliver: queue.deliver,
        journal: queue.journal,
        capacity: config.maxQueued,
        maxQueuedBytes: config.maxQueuedBytes,
        scanInProcess: queue.scanInProcess,
        // Metrics, the inspector and the recorder; under serve in text, the line of scan code that threw, as a code frame.
        observer: combineObservers([
          metrics.observer,
          watchers.observer,
          serve && config.logFormat === 'text' ? codeFrameObserver(out, project.dir) : undefined,
        ]),
      });
      metrics.setGauges({ queued: () => engine.stats().queued, running: () => engine.stats().running });
      // What a crash left in the journal is queued again before the first new bounty is taken.
      await engine.recover();
      let listening: Listening;
      try {
        listening = serve
          ? await listenForDevelopment(engine.handler, config.host, config.port, logger, config.portOrigin !== undefined)
          : await engine.listen({ port: config.port, host: config.host });
      } catch (error) {
        await watcher?.close();
        await envWatcher?.close();
        await engine.close({ graceMs: 0 });
        await queue.close?.();
        await metrics.close();
        await watchers.close();
        throw listenError(error, config.host, config.port, config.portOrigin, project);
      }
      url = connectableUrl(listening.url);
      const inspectorUrl = await watchers.listen(url);
      if (serve) {
        // A second serve of the same project leaves the first one's record alone: `test` keeps using that one.
        const other = otherLiveServe(project.dir);
        if (other) {
          logger.warn(
            `another serve of this project is running (pid ${other.pid}, ${other.url}): \`polyswarm-engine test\` uses that one`,
            {
              hint: `test this one with --url ${url}`,
            },
          );
        } else {
          state = { url, pid: process.pid, startedAt: new Date().toISOString() };
          writeServeState(project.dir, state);
        }
        if (config.logFormat === 'text') {
          printBanner(out, [
            [
              'url',
              theme.accent(url) +
                (config.port !== 0 && new URL(url).port !== String(config.port) ? theme.warn(` (port ${config.port} was in use)`) : ''),
            ],
            ['secret', `from ${secretSource ?? 'the caller'}`],
            ['scan', `${scanPath} ${theme.dim(`(in ${project.dir})`)}`],
            ['reload', watcher ? 'on save (watching src/)' : 'off (--no-watch)'],
            ['queue', `${queue.description}${config.concurrency ? `, ${config.concurrency} scans at a time` : ''}`],
            ['egress', egressText],
            ['inspect', inspectorUrl ? theme.accent(inspectorUrl) : 'off (--no-inspector)'],
          ]);
        } else {
          logger.info('serving', {
            scan: scanPath,
            secret_from: secretSource,
            reload: Boolean(watcher),
            queue: queue.description,
            egress: egressText,
          });
        }
      } else {
        logger.info('starting', {
          scan: scanPath,
          project: project.dir,
          secret_from: secretSource,
          queue: queue.description,
          egress: egressText,
        });
      }
      if (config.previousSecret)
        logger.info('a previous webhook secret is accepted too (secret rotation); requests signed with it are logged');
      return {
        // A shared queue connects first (bounded), so the first bounties after `ready` are not refused for no reason.
        ready: async () => void (await queue.ready?.()),
        readyFields: () => ({ url, pid: process.pid, metrics: metrics.url, ...(inspectorUrl ? { inspector: inspectorUrl } : {}) }),
        async stop(graceMs) {
          await watcher?.close();
          await envWatcher?.close();
          await engine.close({ graceMs });
          await listening.close();
          await queue.close?.();
          await metrics.close();
          await watchers.close();
        },
        abort() {
          logger.warn('stopped at once: bounties still queued or running get no answer from this process');
          listening.server.closeAllConnections();
          listening.server.close();
        },
      };
    },
    {
      logger,
      readyLog,
      graceMs: config.grace,
      interactive: serve,
      signals: config.signals,
      onExit: serve ? () => removeServeState(project.dir) : undefined,
    },
  );
}
