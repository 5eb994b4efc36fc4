/**
 * Running an engine project as a process: what `serve` (development) and `start` (production) share. Find the
 * project, resolve the secret, load the scan module, listen, print the `ready` line, then run until SIGTERM/SIGINT
 * and shut down gracefully (a second signal stops at once, exit 130).
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { relative } from 'node:path';
import { join } from 'node:path';
import { resolveSecret, loadDotEnv, type ResolvedSecret } from '../util/env.js';
import { errorMessage, ExitCode, UsageError } from '../util/errors.js';
import { createLogger, flushLogs, parseLogFormat, parseLogLevel, theme, type Logger } from '../util/logger.js';
import { createEngine, type Engine } from './engine.js';
import { loadScanModule } from './loader.js';
import { findProject, removeServeState, writeServeState, type EngineProject } from '../util/project.js';
import { queueFromOptions } from './queue-option.js';
import { watchScanModule, type ScanModuleWatcher } from './reload.js';

export interface RunEngineOptions {
  /** `serve`: listhen, hot reload, banner, state file. `start`: strict server timeouts, no watcher. */
  mode: 'serve' | 'start';
  cwd: string;
  port: number;
  host: string;
  secret?: string;
  concurrency?: number;
  /** serve only; default true. */
  watch?: boolean;
  queue?: string;
  withWorker?: boolean;
  /** Where logs and the banner go (default stdout). */
  stdout?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  /** What emits SIGINT/SIGTERM and uncaught errors (default `process`). */
  signals?: NodeJS.Process;
}

interface Listening {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '';
  }
}

/** A URL a client can use: `0.0.0.0`/`::` accept connections, they are not addresses to connect to. */
function connectableUrl(url: string): string {
  const u = new URL(url);
  if (u.hostname === '0.0.0.0') u.hostname = '127.0.0.1';
  else if (u.hostname === '[::]') u.hostname = '[::1]';
  u.pathname = '/';
  return u.href;
}

function missingSecret(mode: RunEngineOptions['mode'], project: EngineProject): UsageError {
  const envFile = join(project.dir, '.env');
  return mode === 'start'
    ? new UsageError('WEBHOOK_SECRET is not set: `start` will not run an engine that cannot check signatures', {
        hint: `Set WEBHOOK_SECRET (or PSENGINE_WEBHOOK_SECRET) in the environment or in ${envFile}, or pass --secret.`,
      })
    : new UsageError('no webhook secret: `serve` needs WEBHOOK_SECRET to check the signatures of incoming events', {
        hint: `Add WEBHOOK_SECRET=… to ${envFile} (\`polyswarm-engine init\` writes one), set it in the environment, or pass --secret.`,
      });
}

function listenError(error: unknown, host: string, port: number, mode: RunEngineOptions['mode']): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const flag = mode === 'start' ? '--port (or PORT)' : '--port';
  if (code === 'EADDRINUSE') {
    return new UsageError(`port ${port} on ${host} is already in use`, {
      hint: `Stop the process using it, or pick another port with ${flag} (0 picks a free one).`,
    });
  }
  if (code === 'EACCES') {
    return new UsageError(`not allowed to listen on port ${port} on ${host}`, { hint: `Ports below 1024 need privileges; use ${flag} 3000.` });
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new UsageError(`cannot listen on ${host}: no such local address`, { hint: 'Use --host 127.0.0.1, or 0.0.0.0 for every interface.' });
  }
  return error;
}

/** serve: listhen (friendly port fallback), wrapped around the engine's node handler. */
async function listenForDevelopment(engine: Engine, host: string, port: number, logger: Logger): Promise<Listening> {
  const { listen } = await import('listhen');
  const listener = await listen(engine.handler, {
    // verbose off: a port taken is reported below, through the logger, like everything else.
    port: { port, verbose: false },
    hostname: host,
    showURL: false,
    // listhen's own SIGINT/SIGTERM handling calls process.exit; shutdown is ours (graceful, exit code via cli.ts).
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
  const lines = [`${theme.bold('polyswarm-engine serve')} ${theme.dim(`v${version()}`)}`];
  for (const [key, value] of fields) lines.push(`  ${theme.dim(key.padEnd(8))} ${value}`);
  flushLogs();
  out.write(`${lines.join('\n')}\n\n`);
}

/**
 * Runs the engine project in `options.cwd` until SIGINT/SIGTERM. Resolves 0 after a graceful shutdown (every
 * accepted bounty answered or expired), or 130 when a second signal cut it short. Throws UsageError (exit 2) for
 * a missing project, secret or scan export, a module that does not load, or a port that cannot be used.
 */
export async function runEngineProcess(options: RunEngineOptions): Promise<number> {
  const env = options.env ?? process.env;
  const out = options.stdout ?? process.stdout;
  const proc = options.signals ?? process;
  const project = findProject(options.cwd);
  // Before .env is loaded into the environment, so the banner can say the secret came from the file.
  const secret: ResolvedSecret | undefined = resolveSecret(options.secret, project.dir, env);
  if (!secret) throw missingSecret(options.mode, project);
  loadDotEnv(project.dir, env);

  const format = parseLogFormat(env.LOG_FORMAT);
  const logger = createLogger({ stream: out, format, level: parseLogLevel(env.LOG_LEVEL), timestamps: true });
  // The ready line is what `test` and process managers wait for: it is printed whatever LOG_LEVEL says.
  const readyLog = createLogger({ stream: out, format, level: 'info', timestamps: true });
  const queue = await queueFromOptions({
    command: options.mode,
    url: options.queue,
    withWorker: options.withWorker,
    concurrency: options.concurrency,
    logger,
    env,
  });

  const fresh = options.mode === 'serve';
  const initial = await loadScanModule(project.scanFile, { fresh, root: project.dir });
  let watcher: ScanModuleWatcher | undefined;
  if (options.mode === 'serve' && options.watch !== false) {
    watcher = await watchScanModule({ project, initial, logger });
  }
  const current = watcher;
  const engine = createEngine({
    secret: secret.secret,
    module: current ? () => current.current() : initial,
    concurrency: options.concurrency,
    logger,
    queue: queue.queue,
    deliver: queue.deliver,
    scanInProcess: queue.scanInProcess,
  });

  let listening: Listening;
  try {
    listening =
      options.mode === 'serve'
        ? await listenForDevelopment(engine, options.host, options.port, logger)
        : await engine.listen({ port: options.port, host: options.host });
  } catch (error) {
    await watcher?.close();
    await engine.close({ graceMs: 0 });
    await queue.close?.();
    throw listenError(error, options.host, options.port, options.mode);
  }
  const url = connectableUrl(listening.url);
  const scanPath = relative(project.dir, project.scanFile).split('\\').join('/');

  if (options.mode === 'serve') {
    writeServeState(project.dir, { url, pid: process.pid, startedAt: new Date().toISOString() });
    if (format === 'text') {
      printBanner(out, [
        ['url', theme.accent(url)],
        ['secret', `from ${secret.source}`],
        ['scan', `${scanPath} ${theme.dim(`(in ${project.dir})`)}`],
        ['reload', watcher ? 'on save (watching src/)' : 'off (--no-watch)'],
        ['queue', `${queue.description}${options.concurrency ? `, ${options.concurrency} scans at a time` : ''}`],
      ]);
    } else {
      logger.info('serving', { scan: scanPath, secret_from: secret.source, reload: Boolean(watcher), queue: queue.description });
    }
  } else {
    logger.info('starting', { scan: scanPath, project: project.dir, secret_from: secret.source, queue: queue.description });
  }
  // A stale state file must not outlive the process, even on an exit we did not plan.
  const onExit = () => removeServeState(project.dir);
  if (options.mode === 'serve') proc.on('exit', onExit);

  // Errors that escape the author's code (a throw in a timer callback, a rejected promise nobody awaits) are
  // logged; they never take the engine, and the bounties it holds, down with them.
  const onUncaught = (error: unknown) => {
    const frame = error instanceof Error ? error.stack?.split('\n').find((l) => /^\s+at /.test(l) && !l.includes('node:internal')) : undefined;
    logger.error('uncaught error (the engine keeps running)', { error: errorMessage(error), at: frame?.trim().replace(/^at /, '') });
  };
  proc.on('uncaughtException', onUncaught);
  proc.on('unhandledRejection', onUncaught);

  let signalCount = 0;
  let firstSignal: (signal: string) => void = () => {};
  let secondSignal: () => void = () => {};
  const stopRequested = new Promise<string>((resolve) => (firstSignal = resolve));
  const hardStop = new Promise<void>((resolve) => (secondSignal = resolve));
  const onSignal = (signal: string) => {
    signalCount++;
    if (signalCount === 1) firstSignal(signal);
    else secondSignal();
  };
  for (const s of SIGNALS) proc.on(s, onSignal);

  // A shared queue connects first (bounded), so the first bounties after `ready` are not refused for no reason.
  await queue.ready?.();
  readyLog.info('ready', { url, pid: process.pid });

  const signal = await stopRequested;
  logger.info('stopping', { signal, hint: 'finishing accepted bounties; press Ctrl-C again to stop now' });
  try {
    await watcher?.close();
    const graceful = (async () => {
      await engine.close();
      await listening.close();
      await queue.close?.();
      return ExitCode.OK;
    })();
    const code = await Promise.race([graceful, hardStop.then(() => ExitCode.INTERRUPTED)]);
    if (code === ExitCode.INTERRUPTED) {
      logger.warn('stopped at once: bounties still queued or running get no answer from this process');
      listening.server.closeAllConnections();
      listening.server.close();
    }
    return code;
  } finally {
    for (const s of SIGNALS) proc.off(s, onSignal);
    proc.off('uncaughtException', onUncaught);
    proc.off('unhandledRejection', onUncaught);
    if (options.mode === 'serve') {
      proc.off('exit', onExit);
      removeServeState(project.dir);
    }
  }
}
