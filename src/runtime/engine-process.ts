/**
 * `serve` and `start` as processes: find the project, load the scan module, build the engine with the queue the
 * configuration names, listen, and hand the rest (signals, ready line, graceful stop) to the process host.
 * The configuration arrives resolved (runtime/config.ts); nothing here reads the environment for a setting.
 */
import type { Server } from 'node:http';
import { join, relative, resolve } from 'node:path';
import { setEgressPolicy, type EgressMode } from '../engine/egress.js';
import { createEngine } from '../engine/engine.js';
import { createWatchers } from '../inspector/attach.js';
import { loadScanModule } from '../engine/loader.js';
import { watchScanModule, type ScanModuleWatcher } from '../engine/reload.js';
import { loadDotEnv } from '../util/env.js';
import { UsageError } from '../util/errors.js';
import { createLogger, flushLogs, theme, type LogFormat, type LogLevel, type Logger } from '../util/logger.js';
import { packageInfo } from '../util/package.js';
import { findProject, removeServeState, writeServeState, type EngineProject } from '../util/project.js';
import { hostProcess } from './host.js';
import { queueFromConfig } from './queue.js';
import { sweepArtifacts } from './sweep.js';

/** The resolved configuration of `serve` / `start`. */
export interface EngineProcessConfig {
  /** `serve`: listhen, hot reload, banner, state file. `start`: strict server timeouts, no watcher. */
  mode: 'serve' | 'start';
  cwd: string;
  port: number;
  host: string;
  secret?: string;
  /** True when the secret came from the command line (where `ps` shows it). */
  secretFlag?: boolean;
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

interface Listening {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** A URL a client can use: `0.0.0.0`/`::` accept connections, they are not addresses to connect to. */
export function connectableUrl(url: string): string {
  const u = new URL(url);
  if (u.hostname === '0.0.0.0') u.hostname = '127.0.0.1';
  else if (u.hostname === '[::]') u.hostname = '[::1]';
  u.pathname = '/';
  return u.href;
}

function missingSecret(mode: EngineProcessConfig['mode'], project: EngineProject): UsageError {
  const envFile = join(project.dir, '.env');
  return mode === 'start'
    ? new UsageError('WEBHOOK_SECRET is not set: `start` will not run an engine that cannot check signatures', {
        hint: `Set WEBHOOK_SECRET (or PSENGINE_WEBHOOK_SECRET) in the environment or in ${envFile}.`,
      })
    : new UsageError('no webhook secret: `serve` needs WEBHOOK_SECRET to check the signatures of incoming events', {
        hint: `Add WEBHOOK_SECRET=… to ${envFile} (\`polyswarm-engine init\` writes one), or set it in the environment.`,
      });
}

function listenError(error: unknown, host: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') {
    return new UsageError(`port ${port} on ${host} is already in use`, {
      hint: 'Stop the process using it, or pick another port with --port (or PORT); 0 picks a free one.',
    });
  }
  if (code === 'EACCES') {
    return new UsageError(`not allowed to listen on port ${port} on ${host}`, { hint: 'Ports below 1024 need privileges; use --port 3000.' });
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new UsageError(`cannot listen on ${host}: no such local address`, { hint: 'Use --host 127.0.0.1, or 0.0.0.0 for every interface.' });
  }
  return error;
}

/** serve: listhen (friendly port fallback), wrapped around the engine's node handler. */
async function listenForDevelopment(handler: Parameters<typeof import('listhen').listen>[0], host: string, port: number, logger: Logger): Promise<Listening> {
  const { listen } = await import('listhen');
  const listener = await listen(handler, {
    // verbose off: a port taken is reported below, through the logger, like everything else.
    port: { port, verbose: false },
    hostname: host,
    showURL: false,
    // listhen's own SIGINT/SIGTERM handling calls process.exit; shutdown belongs to the process host.
    autoClose: false,
    open: false,
    clipboard: false,
    qr: false,
    isTest: false,
    isProd: false,
  });
  const bound = listener.address.port;
  if (port !== 0 && bound !== port) logger.warn(`port ${port} is in use`, { using: bound });
  return { url: listener.url, server: listener.server as Server, close: () => listener.close() };
}

function printBanner(out: NodeJS.WritableStream, fields: [string, string][]): void {
  const lines = [`${theme.bold('polyswarm-engine serve')} ${theme.dim(`v${packageInfo().version}`)}`];
  for (const [key, value] of fields) lines.push(`  ${theme.dim(key.padEnd(8))} ${value}`);
  flushLogs();
  out.write(`${lines.join('\n')}\n\n`);
}

/**
 * Runs the engine project in `config.cwd` until SIGINT/SIGTERM (see runtime/host.ts for the exit codes). Throws
 * UsageError (exit 2) for a missing project, secret or scan export, a module that does not load, or a port that
 * cannot be used.
 */
export async function runEngineProcess(config: EngineProcessConfig): Promise<number> {
  const out = config.stdout ?? process.stdout;
  const project = findProject(config.cwd);
  if (!config.secret) throw missingSecret(config.mode, project);
  // The scan code may read its own settings (CLAMAV_DATABASE, …) from the project's .env.
  loadDotEnv(project.dir, config.env ?? process.env);

  const logger = createLogger({ stream: out, format: config.logFormat, level: config.logLevel, timestamps: true });
  const readyLog = createLogger({ stream: out, format: config.logFormat, level: 'info', timestamps: true });
  if (config.secretFlag && config.mode === 'start') {
    logger.warn('the webhook secret was given with --secret, where `ps` shows it to every user of this machine', {
      hint: 'set WEBHOOK_SECRET in the environment or the project’s .env instead',
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
      const queue = await queueFromConfig({
        command: config.mode,
        url: config.queue,
        projectDir: project.dir,
        stateDir: config.stateDir === undefined ? undefined : resolve(config.cwd, config.stateDir),
        withWorker: config.withWorker,
        concurrency: config.concurrency,
        lockDurationMs: config.lockDuration,
        logger,
      });
      // Artifacts (malware samples) a killed run left in the temp folder go before anything else starts.
      sweepArtifacts(logger);
      const initial = await loadScanModule(project.scanFile, { fresh: serve, root: project.dir });
      let watcher: ScanModuleWatcher | undefined;
      if (serve && config.watch !== false) watcher = await watchScanModule({ project, initial, logger });
      const current = watcher;
      const watchers = createWatchers({ ...config, secret: config.secret! }, logger);
      const engine = createEngine({
        observer: watchers.observer,
        secret: config.secret!,
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
      });
      // What a crash left in the journal is queued again before the first new bounty is taken.
      await engine.recover();
      let listening: Listening;
      try {
        listening = serve
          ? await listenForDevelopment(engine.handler, config.host, config.port, logger)
          : await engine.listen({ port: config.port, host: config.host });
      } catch (error) {
        await watcher?.close();
        await engine.close({ graceMs: 0 });
        await queue.close?.();
        await watchers.close();
        throw listenError(error, config.host, config.port);
      }
      url = connectableUrl(listening.url);
      const inspectorUrl = await watchers.listen(url);
      if (serve) {
        writeServeState(project.dir, { url, pid: process.pid, startedAt: new Date().toISOString() });
        if (config.logFormat === 'text') {
          printBanner(out, [
            ['url', theme.accent(url)],
            ['secret', `from ${config.secretSource ?? 'the caller'}`],
            ['scan', `${scanPath} ${theme.dim(`(in ${project.dir})`)}`],
            ['reload', watcher ? 'on save (watching src/)' : 'off (--no-watch)'],
            ['queue', `${queue.description}${config.concurrency ? `, ${config.concurrency} scans at a time` : ''}`],
            ['egress', egressText],
            ['inspect', inspectorUrl ? theme.accent(inspectorUrl) : 'off (--no-inspector)'],
          ]);
        } else {
          logger.info('serving', { scan: scanPath, secret_from: config.secretSource, reload: Boolean(watcher), queue: queue.description, egress: egressText });
        }
      } else {
        logger.info('starting', { scan: scanPath, project: project.dir, secret_from: config.secretSource, queue: queue.description, egress: egressText });
      }
      if (config.previousSecret) logger.info('a previous webhook secret is accepted too (secret rotation); requests signed with it are logged');
      return {
        // A shared queue connects first (bounded), so the first bounties after `ready` are not refused for no reason.
        ready: async () => void (await queue.ready?.()),
        readyFields: () => ({ url, pid: process.pid, ...(inspectorUrl ? { inspector: inspectorUrl } : {}) }),
        async stop(graceMs) {
          await watcher?.close();
          await engine.close({ graceMs });
          await listening.close();
          await queue.close?.();
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
