/** `polyswarm-engine start`: the project's engine in production (runtime/engine-process.ts). */
import { defineCommand, flag } from './define.js';
import { connectionOptions, egressOptions, recordOptions, webhookOptions } from './engine-options.js';

export const start = defineCommand({
  name: 'start',
  description: 'run the engine in production (strict server timeouts; LOG_FORMAT=json for JSON lines)',
  options: {
    ...webhookOptions('127.0.0.1'),
    ...egressOptions('public'),
    withWorker: flag('--with-worker', 'with --queue: also run scan workers in this process'),
    ...connectionOptions(),
    ...recordOptions('delivery (headers without the secret, body, outcome, answer, timings)'),
  },
  examples: [
    'WEBHOOK_SECRET=... polyswarm-engine start --host 0.0.0.0 --port 8080',
    'polyswarm-engine start --queue redis://127.0.0.1:6379',
    'polyswarm-engine start --record deliveries.jsonl --record-artifacts ./artifacts',
  ],
  async run({ options, sources, origins }) {
    const { runEngineProcess } = await import('../runtime/engine-process.js');
    return runEngineProcess({ mode: 'start', ...options, sources, origins });
  },
});
