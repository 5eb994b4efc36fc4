/**
 * `polyswarm-engine start`: run the project's engine in production (strict server timeouts, LOG_FORMAT=json for
 * JSON lines, LOG_LEVEL, PORT/HOST). Thin: the work is in `engine/run.ts`.
 */
import { runEngineProcess } from '../engine/run.js';

interface StartOptions {
  port: number;
  host: string;
  secret?: string;
  concurrency?: number;
  queue?: string;
  withWorker?: boolean;
  cwd: string;
}

/** Runs until SIGINT/SIGTERM; 0 after a graceful stop, 130 when a second signal cut it short. */
export async function run(_args: string[], options: StartOptions): Promise<number> {
  return runEngineProcess({
    mode: 'start',
    cwd: options.cwd,
    port: options.port,
    host: options.host,
    secret: options.secret,
    concurrency: options.concurrency,
    queue: options.queue,
    withWorker: options.withWorker,
  });
}
