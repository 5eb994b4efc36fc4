/**
 * `worker` as a process: open the project (open-project.ts), take jobs from the Redis queue until SIGTERM, and hand
 * signals, the ready line and the graceful stop to the process host (host.ts), as `serve` and `start` do.
 */
import { combineObservers } from '../engine/observer.js';
import { createRedisWorker } from '../engine/worker.js';
import { UsageError } from '../util/errors.js';
import { hostProcess } from './host.js';
import { openProject, startProject, type ProjectProcessConfig } from './open-project.js';
import { connectionOf, sharedQueueName } from './queue-name.js';

/** How long the worker waits for Redis before saying so (it keeps waiting). */
const WAITING_LOG_MS = 2000;

/** Runs scan workers against the Redis queue until SIGINT/SIGTERM (exit codes: runtime/host.ts). */
export async function runWorkerProcess(config: ProjectProcessConfig): Promise<number> {
  if (!config.queue) {
    throw new UsageError('worker needs a Redis queue to take bounties from', {
      hint: 'Pass --queue redis://host:port[/db], or set POLYSWARM_QUEUE_URL (also read from the project’s .env).',
    });
  }
  const { parseRedisUrl, preflight } = await import('../engine/redis/index.js');
  const target = parseRedisUrl(config.queue, connectionOf(config));
  const open = openProject(config, { followEnv: false, egress: 'public' });
  const { project, logger } = open;
  const { queueName, engine } = sharedQueueName(project.dir, config.queueName);

  return hostProcess(
    async () => {
      const parts = await startProject(open, config, { fresh: false });
      let worker: ReturnType<typeof createRedisWorker>;
      try {
        // Exit 2 for a Redis that would evict bounties, or a queue another engine's web process fills (this code would
        // answer its bounties). A Redis still down is checked by the web process when it connects.
        await preflight(target, { queueName, engine, role: 'worker', logger, timeoutMs: WAITING_LOG_MS });
        worker = createRedisWorker({
          queue: target,
          queueName,
          module: parts.module,
          concurrency: config.concurrency,
          lockDurationMs: config.lockDuration,
          egress: open.egress,
          logger,
          observer: combineObservers([parts.metrics.observer, parts.recorder?.observer]),
        });
      } catch (error) {
        await parts.close();
        throw error;
      }
      parts.metrics.setGauges({ running: () => worker.stats().busy });
      return {
        async ready() {
          const waiting = setTimeout(() => logger.warn('waiting for Redis', { queue: worker.queue }), WAITING_LOG_MS);
          try {
            await worker.ready();
          } finally {
            clearTimeout(waiting);
          }
        },
        readyFields: () => ({
          queue: worker.queue,
          queue_name: queueName,
          concurrency: worker.concurrency,
          scan: project.scanFile,
          egress: open.egress.mode,
          pid: process.pid,
          metrics: parts.metrics.url,
          ...(parts.recorder ? { record: config.record } : {}),
        }),
        async stop(graceMs) {
          await worker.close({ graceMs });
          await parts.close();
        },
        abort() {
          // Jobs this worker still holds go back to the queue when their locks expire: another worker answers them.
          logger.warn('stopped at once: jobs still held go to another worker when their locks expire', { running: worker.stats().busy });
        },
      };
    },
    { logger, readyLog: open.readyLog, graceMs: config.grace, interactive: false, signals: config.signals },
  );
}
