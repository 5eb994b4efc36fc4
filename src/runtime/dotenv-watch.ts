/**
 * `serve` keeps the scan code's environment in step with `.env`: an edit (e.g. CLAMAV_DATABASE) is seen by the next
 * bounty. serve's own settings (port, secret…) were resolved at start: those take a restart, and the log says so.
 */
import { basename, join } from 'node:path';
import { watch } from 'chokidar';
import { errorMessage } from '../util/errors.js';
import { trackDotEnv } from '../util/env.js';
import type { Logger } from '../util/logger.js';

/** Settings serve itself reads once, at start. */
const READ_AT_START = new Set([
  'WEBHOOK_SECRET',
  'PSENGINE_WEBHOOK_SECRET',
  'PORT',
  'HOST',
  'POLYSWARM_CONCURRENCY',
  'LOG_LEVEL',
  'LOG_FORMAT',
  'POLYSWARM_QUEUE_URL',
]);

export interface DotEnvWatcher {
  close(): Promise<void>;
}

/** Watches `<dir>/.env` and applies its edits to `env`, logging what changed. Resolves once the watcher is ready. */
export async function watchDotEnv(dir: string, env: NodeJS.ProcessEnv, logger: Logger): Promise<DotEnvWatcher> {
  const file = join(dir, '.env');
  const tracked = trackDotEnv(dir, env);
  let timer: NodeJS.Timeout | undefined;
  const apply = () => {
    try {
      const changed = tracked.reload();
      if (changed.length > 0) {
        const restart = changed.filter((name) => READ_AT_START.has(name));
        logger.info(`.env reloaded: ${changed.join(', ')} changed (the next bounty sees it)`);
        if (restart.length > 0) logger.warn(`${restart.join(', ')} changed in .env: serve read it at start, restart serve to use it`);
      }
    } catch (error) {
      logger.warn('.env could not be read again; the previous values stay', { error: errorMessage(error) });
    }
  };
  // The folder, one level deep, filtered to .env: editors replace a file by renaming, which a file watch loses.
  const watcher = watch(dir, { depth: 0, ignoreInitial: true, ignored: (path) => path !== dir && basename(path) !== '.env' });
  watcher.on('all', (_event, path) => {
    if (path !== file) return;
    clearTimeout(timer);
    timer = setTimeout(apply, 50);
  });
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return {
    async close() {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
