/** `polyswarm-engine worker --queue redis://…`: scans what `start --queue` stored (runtime/worker-process.ts). */
import { defineCommand, text } from './define.js';
import { egressOptions, processOptions, queueNameOption, queueTlsOptions, recordOptions } from './engine-options.js';

export const worker = defineCommand({
  name: 'worker',
  description: 'process bounties from a Redis queue (run as many as you need)',
  options: {
    queue: text('--queue <url>', 'Redis URL of the queue the web process fills, e.g. redis://127.0.0.1:6379/0 (required)', {
      env: 'POLYSWARM_QUEUE_URL',
    }),
    queueName: queueNameOption(),
    ...queueTlsOptions(),
    ...processOptions(),
    ...egressOptions('public'),
    ...recordOptions('bounty this worker takes from the queue (body as stored, download, scan, answer, timings)'),
  },
  examples: [
    'polyswarm-engine worker --queue redis://127.0.0.1:6379 --concurrency 8',
    'POLYSWARM_QUEUE_URL=redis://redis:6379 polyswarm-engine worker',
    'polyswarm-engine worker --queue redis://127.0.0.1:6379 --record answers.jsonl --record-artifacts ./artifacts',
  ],
  async run({ options }) {
    const { runWorkerProcess } = await import('../runtime/worker-process.js');
    return runWorkerProcess(options);
  },
});
