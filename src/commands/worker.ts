/**
 * `polyswarm-engine worker --queue redis://… [--concurrency N]`: scans bounties that `start --queue` stored in Redis.
 * Thin: finds the project, loads its scan module, runs `createRedisWorker` until SIGTERM/SIGINT.
 */
import type { CommandRun } from '../cli.js';
import { loadScanModule } from '../engine/loader.js';
import { findProject } from '../util/project.js';
import { parseLockDuration, parseRedisUrl } from '../engine/redis-queue.js';
import { createRedisWorker } from '../engine/worker.js';
import { parseDuration } from '../util/duration.js';
import { loadDotEnv } from '../util/env.js';
import { ExitCode, UsageError } from '../util/errors.js';
import { createLogger, parseLogFormat, parseLogLevel } from '../util/logger.js';

interface WorkerFlags {
  queue?: string;
  concurrency?: number;
  cwd: string;
}

/** How long a stopping worker lets running scans finish before handing them back (POLYSWARM_SHUTDOWN_GRACE). */
function shutdownGrace(): number {
  const value = process.env.POLYSWARM_SHUTDOWN_GRACE;
  return value === undefined || value.trim() === '' ? 30_000 : parseDuration(value, 'POLYSWARM_SHUTDOWN_GRACE');
}

export const run: CommandRun<WorkerFlags> = async (_args, options) => {
  const project = findProject(options.cwd);
  // The project's .env may hold POLYSWARM_QUEUE_URL, LOG_FORMAT, …; the real environment wins.
  loadDotEnv(project.dir);
  const url = options.queue ?? process.env.POLYSWARM_QUEUE_URL;
  if (!url) {
    throw new UsageError('worker needs a Redis queue to take bounties from', {
      hint: 'Pass --queue redis://host:port[/db], or set POLYSWARM_QUEUE_URL (also read from .env).',
    });
  }
  const target = parseRedisUrl(url);
  const lockDurationMs = parseLockDuration(process.env.POLYSWARM_LOCK_DURATION);
  const graceMs = shutdownGrace();
  const logger = createLogger({
    level: parseLogLevel(process.env.LOG_LEVEL),
    format: parseLogFormat(process.env.LOG_FORMAT),
    stream: process.stdout,
    timestamps: true,
  });
  const module = await loadScanModule(project.scanFile, { root: project.dir });

  const worker = createRedisWorker({ queue: target, module, concurrency: options.concurrency, lockDurationMs, logger });
  // Errors that escape the author's code (a throw in a timer, a promise nobody awaits) are logged: they must not
  // take the worker down with the jobs it holds.
  const onUncaught = (error: unknown) =>
    logger.error('uncaught error in scan code (the worker keeps running)', { error: error instanceof Error ? error.message : String(error) });
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  let signals = 0;
  let waiting: NodeJS.Timeout | undefined;
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      clearTimeout(waiting);
      if (signals > 1) {
        // A second Ctrl-C: stop waiting. Jobs still held go back to the queue when their locks expire.
        logger.warn('second signal; exiting without waiting', { signal });
        resolve(ExitCode.INTERRUPTED);
        return;
      }
      logger.info('signal received; finishing running scans', { signal });
      worker.close({ graceMs }).then(
        () => resolve(ExitCode.OK),
        (error: unknown) => {
          logger.error('shutdown failed', { error: error instanceof Error ? error.message : String(error) });
          resolve(ExitCode.OK);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  waiting = setTimeout(() => logger.warn('waiting for Redis', { queue: worker.queue }), 2000);
  await Promise.race([worker.ready(), stopped]);
  clearTimeout(waiting);
  if (signals === 0) {
    logger.info('ready', { queue: worker.queue, concurrency: worker.concurrency, scan: project.scanFile, pid: process.pid });
  }
  return stopped;
};
