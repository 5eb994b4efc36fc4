/**
 * What `serve` attaches to the engine from this folder: the inspector (unless `--no-inspector`). One call before the
 * engine is built, one once it listens, one at the stop. (`--record` is opened with the project: runtime/open-project.ts.)
 */
import { DEFAULTS } from '../engine/defaults.js';
import type { EngineObserver } from '../engine/observer.js';
import type { Logger } from '../util/logger.js';
import { DEFAULT_HISTORY_BYTES, DEFAULT_INSPECTOR_PORT } from './defaults.js';
import { Inspector } from './inspector.js';
import { tapLogger } from './log-tap.js';
import { startInspectorServer, type InspectorServer } from './server.js';

export interface InspectorConfig {
  mode: 'serve' | 'start';
  secret: string;
  /** serve: default true; start: never. */
  inspector?: boolean;
  inspectorPort?: number;
  inspectorHistory?: number;
}

export interface AttachedInspector {
  /** The observer to give createEngine (undefined without the inspector). */
  observer?: EngineObserver;
  /** The logger to give createEngine: `logger` itself, or with the inspector, one that also hands it each bounty's lines. */
  logger(logger: Logger): Logger;
  /** Starts the inspector's server once the engine listens at `engineUrl`; resolves to its URL (or undefined). */
  listen(engineUrl: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export function attachInspector(config: InspectorConfig, logger: Logger): AttachedInspector {
  const inspector =
    config.mode === 'serve' && config.inspector !== false
      ? new Inspector({
          secret: config.secret,
          maxBytes: config.inspectorHistory ?? DEFAULT_HISTORY_BYTES,
          maxBodyBytes: DEFAULTS.maxBodyBytes,
        })
      : undefined;
  let server: InspectorServer | undefined;
  return {
    observer: inspector?.tracker,
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
      await inspector.connect(engineUrl);
      return server.url;
    },
    async close() {
      await server?.close();
      await inspector?.close();
    },
  };
}
