/**
 * `serve` and `start` as processes: open the project (open-project.ts), build the queue (queue.ts) and the engine on
 * it, listen, and hand signals, the ready line and the graceful stop to the process host (host.ts).
 */
import { relative } from 'node:path';
import { createEngine } from '../engine/engine.js';
import { ScanModuleError } from '../engine/loader.js';
import { combineObservers } from '../engine/observer.js';
import { watchedPaths, watchScanModule, type ReloadOutcome, type ScanModuleWatcher } from '../engine/reload.js';
import { attachInspector } from '../inspector/attach.js';
import { errorMessage, UsageError } from '../util/errors.js';
import { theme } from '../util/logger.js';
import { otherLiveServe, removeServeState, writeServeState, type EngineProject, type ServeState } from '../util/project.js';
import { codeFrameObserver } from './code-frame.js';
import { watchDotEnv } from './dotenv-watch.js';
import { hostProcess } from './host.js';
import { connectableUrl, listenError, listenForDevelopment, printBanner, type Listening } from './listen.js';
import { openProject, startProject, type ProjectProcessConfig } from './open-project.js';
import type { ValueSource } from './options.js';
import { openQueue } from './queue.js';
import { resolveSecret, warnSecretFlags, type SecretConfig } from './secret.js';

export { connectableUrl } from './listen.js';

/** The resolved configuration of `serve` / `start`. */
export interface EngineProcessConfig extends ProjectProcessConfig, SecretConfig {
  /** `serve`: listhen, hot reload, banner, state file, inspector. `start`: strict server timeouts, no watcher. */
  mode: 'serve' | 'start';
  port: number;
  host: string;
  /** Where each flag's value came from (runtime/config.ts): the port's, to say which setting chose a busy port. */
  sources?: SecretConfig['sources'] & { port?: ValueSource };
  origins?: SecretConfig['origins'] & { port?: string };
  stateDir?: string;
  maxQueued?: number;
  maxQueuedBytes?: number;
  withWorker?: boolean;
  /** start only. */
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  /** serve only (default true), and the inspector page, its port and history bound (inspector/attach.ts). */
  watch?: boolean;
  inspector?: boolean;
  inspectorPort?: number;
  inspectorHistory?: number;
}

/** Runs the engine project in `config.cwd` until SIGINT/SIGTERM; a UsageError for what keeps it from starting. */
export async function runEngineProcess(config: EngineProcessConfig): Promise<number> {
  const serve = config.mode === 'serve';
  const followEnv = serve && config.watch !== false;
  const open = openProject(config, { followEnv, egress: serve ? 'any' : 'public' });
  const { project, logger, out } = open;
  const { secret, source: secretSource } = resolveSecret(config, config.mode, project);
  warnSecretFlags(config, { secret, source: secretSource }, logger);
  // serve picks another port when its default one is taken, so its message says which setting chose a busy one.
  const portOrigin = !serve || config.sources?.port === undefined || config.sources.port === 'default' ? undefined : config.origins?.port;
  const scanPath = relative(project.dir, project.scanFile).split('\\').join('/');
  let url = '';

  return hostProcess(
    async () => {
      const envWatcher = followEnv ? await watchDotEnv(project.dir, open.env, logger) : undefined;
      let queue: Awaited<ReturnType<typeof openQueue>>;
      let parts: Awaited<ReturnType<typeof startProject>>;
      try {
        queue = await openQueue(config, project.dir, logger);
        parts = await startProject(open, config, { fresh: serve, webhook: config }).catch(async (error: unknown) => {
          await queue.queue.release?.();
          throw error;
        });
      } catch (error) {
        await envWatcher?.close();
        // The loader's hint says "save (serve reloads)", true of a reload; at startup this process is about to exit.
        if (error instanceof ScanModuleError && error.hint?.includes('serve reloads')) {
          throw new UsageError(error.message, { hint: 'Fix it, then run the command again.', cause: error });
        }
        throw error;
      }
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
      const initial = parts.module;
      const watcher: ScanModuleWatcher | undefined = followEnv ? await watchScanModule({ project, initial, logger, onReload }) : undefined;
      const inspector = attachInspector({ ...config, secret }, logger);
      const engine = createEngine({
        secret,
        previousSecret: config.previousSecret,
        module: watcher ? () => watcher.current() : initial,
        queue: queue.queue,
        egress: open.egress,
        egressHint:
          'allow the receiver with --egress-allow HOST (POLYSWARM_EGRESS_ALLOW), or run with --egress any for a local setup (serve does)',
        logger: inspector.logger(logger),
        // Metrics, the inspector and the recorder; under serve in text, the line of scan code that threw, as a code frame.
        observer: combineObservers([
          parts.metrics.observer,
          parts.recorder?.observer,
          inspector.observer,
          serve && config.logFormat === 'text' ? codeFrameObserver(out, project.dir) : undefined,
        ]),
      });
      parts.metrics.setGauges({ queued: () => engine.stats().queued, running: () => engine.stats().running });
      // What a crash left in the journal is queued again before the first new bounty is taken.
      await engine.recover();
      let listening: Listening;
      try {
        listening = serve
          ? await listenForDevelopment(engine.handler, config.host, config.port, logger, portOrigin !== undefined)
          : await engine.listen({
              port: config.port,
              host: config.host,
              maxConnections: config.maxConnections,
              maxConnectionsPerAddress: config.maxConnectionsPerAddress,
            });
      } catch (error) {
        await watcher?.close();
        await envWatcher?.close();
        // It never served: the error alone says what happened.
        await engine.close({ graceMs: 0, quiet: true });
        await parts.close();
        await inspector.close();
        throw listenError(error, config.host, config.port, portOrigin, project);
      }
      url = connectableUrl(listening.url);
      const inspectorUrl = await inspector.listen(url);
      if (serve) {
        // A second serve of the same project leaves the first one's record alone: `test` keeps using that one.
        const other = otherLiveServe(project.dir);
        if (other) {
          logger.warn(
            `another serve of this project is running (pid ${other.pid}, ${other.url}): \`polyswarm-engine test\` uses that one`,
            { hint: `test this one with --url ${url}` },
          );
        } else {
          state = { url, pid: process.pid, startedAt: new Date().toISOString() };
          writeServeState(project.dir, state);
        }
      }
      if (serve && config.logFormat === 'text') {
        printBanner(out, [
          [
            'url',
            theme.accent(url) +
              (config.port !== 0 && new URL(url).port !== String(config.port) ? theme.warn(` (port ${config.port} was in use)`) : ''),
          ],
          ['secret', `from ${secretSource}`],
          ['scan', `${scanPath} ${theme.dim(`(in ${project.dir})`)}`],
          ['reload', watcher ? `on save (watching ${watchedFolders(project)})` : 'off (--no-watch)'],
          ['queue', `${queue.description}${config.concurrency ? `, ${config.concurrency} scans at a time` : ''}`],
          ['egress', open.egressText],
          ['inspect', inspectorUrl ? theme.accent(inspectorUrl) : 'off (--no-inspector)'],
        ]);
      } else {
        logger.info(serve ? 'serving' : 'starting', {
          scan: scanPath,
          ...(serve ? {} : { project: project.dir }),
          secret_from: secretSource,
          ...(serve ? { reload: Boolean(watcher) } : {}),
          queue: queue.description,
          egress: open.egressText,
        });
      }
      if (config.previousSecret)
        logger.info('a previous webhook secret is accepted too (secret rotation); requests signed with it are logged');
      return {
        // A shared queue connects first (bounded), so the first bounties after `ready` are not refused for no reason.
        ready: () => queue.ready(),
        readyFields: () => ({ url, pid: process.pid, metrics: parts.metrics.url, ...(inspectorUrl ? { inspector: inspectorUrl } : {}) }),
        async stop(graceMs) {
          await watcher?.close();
          await envWatcher?.close();
          await engine.close({ graceMs });
          await listening.close();
          await parts.close();
          await inspector.close();
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
      readyLog: open.readyLog,
      graceMs: config.grace,
      interactive: serve,
      signals: config.signals,
      onExit: serve ? () => removeServeState(project.dir) : undefined,
    },
  );
}

/** What serve's reload watches, for the banner: `src/`, and the folders package.json adds (`polyswarm.watch`). */
function watchedFolders(project: EngineProject): string {
  try {
    return watchedPaths(project)
      .map((path) => `${relative(project.dir, path) || '.'}/`)
      .join(', ');
  } catch {
    // A bad polyswarm.watch was reported by the watcher, which watches src/ alone then.
    return 'src/';
  }
}
