/**
 * `polyswarm-engine serve`: run the project's engine for development, reloading `src/` on save.
 * Thin: the work is in `engine/run.ts`.
 */
import { runEngineProcess } from '../engine/run.js';

interface ServeOptions {
  port: number;
  host: string;
  secret?: string;
  concurrency?: number;
  /** commander's `--no-watch` sets this to false. */
  watch: boolean;
  queue?: string;
  cwd: string;
}

/** Runs until SIGINT/SIGTERM; 0 after a graceful stop, 130 when a second signal cut it short. */
export async function run(_args: string[], options: ServeOptions): Promise<number> {
  return runEngineProcess({
    mode: 'serve',
    cwd: options.cwd,
    port: options.port,
    host: options.host,
    secret: options.secret,
    concurrency: options.concurrency,
    watch: options.watch,
    queue: options.queue,
  });
}
