/**
 * What `serve` and `start` attach to the engine from this folder: the inspector (serve, unless `--no-inspector`)
 * and the recorder (`--record FILE`; `worker` opens one too). One call before the engine is built, one once it
 * listens, one at the stop, so runtime/engine-process.ts stays a few lines longer only.
 */
import { resolve } from 'node:path';
import { DEFAULTS } from '../engine/defaults.js';
import { combineObservers, type EngineObserver } from '../engine/observer.js';
import { UsageError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { DEFAULT_HISTORY_BYTES, DEFAULT_INSPECTOR_PORT, DEFAULT_RECORD_MAX_BYTES } from './defaults.js';
import { Inspector } from './inspector.js';
import { tapLogger } from './log-tap.js';
import { createRecorder, type Recorder } from './recorder.js';
import { startInspectorServer, type InspectorServer } from './server.js';

export interface WatchConfig extends RecordConfig {
  mode: 'serve' | 'start';
  secret: string;
  /** serve: default true. */
  inspector?: boolean;
  inspectorPort?: number;
  inspectorHistory?: number;
}

export interface Watchers {
  /** The observer to give createEngine (undefined when nothing watches). */
  observer?: EngineObserver;
  /** The logger to give createEngine: `logger` itself, or with the inspector, one that also hands it each bounty's lines. */
  logger(logger: Logger): Logger;
  /** Starts the inspector's server once the engine listens at `engineUrl`; resolves to its URL (or undefined). */
  listen(engineUrl: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface RecordConfig {
  cwd: string;
  record?: string;
  recordMaxBytes?: number;
  recordArtifacts?: string;
}

/**
 * The recorder of `start --record FILE` and `worker --record FILE` (paths relative to `--cwd`), or undefined
 * without `--record`; a file that cannot be written is a usage error naming it.
 */
export function openRecorder(config: RecordConfig, logger: Logger): Recorder | undefined {
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
    throw new UsageError(`--record ${config.record}: cannot write ${file} (${(error as Error).message})`);
  }
  logger.info('recording', { file, artifacts: config.recordArtifacts ?? 'not recorded' });
  return recorder;
}

export function createWatchers(config: WatchConfig, logger: Logger): Watchers {
  const inspector =
    config.mode === 'serve' && config.inspector !== false
      ? new Inspector({
          secret: config.secret,
          maxBytes: config.inspectorHistory ?? DEFAULT_HISTORY_BYTES,
          maxBodyBytes: DEFAULTS.maxBodyBytes,
        })
      : undefined;
  const recorder = openRecorder(config, logger);
  const list = [inspector?.tracker, recorder?.observer].filter((o): o is EngineObserver => o !== undefined);
  let server: InspectorServer | undefined;
  return {
    observer: list.length === 0 ? undefined : list.length === 1 ? list[0] : combineObservers(list),
    logger: (base) =>
      inspector ? tapLogger(base, (bounty, level, message, fields) => inspector.tracker.onLog(bounty, level, message, fields)) : base,
    async listen(engineUrl) {
      if (!inspector) return undefined;
      const port = config.inspectorPort ?? DEFAULT_INSPECTOR_PORT;
      try {
        server = await startInspectorServer(inspector, port);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
        logger.warn(`inspector port ${port} is in use; using a free one`, { hint: 'set one with --inspector-port' });
        server = await startInspectorServer(inspector, 0);
      }
      inspector.setUrls(engineUrl, server.url);
      return server.url;
    },
    async close() {
      recorder?.close();
      await server?.close();
    },
  };
}
