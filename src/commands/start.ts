/**
 * `polyswarm-engine start`: run the project's engine in production (strict server timeouts, JSON logs with
 * LOG_FORMAT=json). Thin: the process is hosted by `runtime/engine-process.ts`.
 */
import { DEFAULT_RECORD_MAX_BYTES } from '../inspector/defaults.js';
import { defineCommand, flag, size, text } from './define.js';
import { egressOptions, webhookOptions } from './engine-options.js';

export const start = defineCommand({
  name: 'start',
  description: 'run the engine in production (strict server timeouts; LOG_FORMAT=json for JSON lines)',
  options: {
    ...webhookOptions('127.0.0.1'),
    ...egressOptions('public'),
    withWorker: flag('--with-worker', 'with --queue: also run scan workers in this process'),
    record: text('--record <file>', 'append one JSON line per delivery (headers without the secret, body, outcome, answer, timings)', {
      env: 'POLYSWARM_RECORD',
    }),
    recordMaxBytes: size(
      '--record-max-bytes <size>',
      'rotate the recording to FILE.1 past this size',
      { min: 64 * 1024 },
      {
        env: 'POLYSWARM_RECORD_MAX_BYTES',
        defaultValue: DEFAULT_RECORD_MAX_BYTES,
        defaultLabel: `${DEFAULT_RECORD_MAX_BYTES / 1024 ** 2}MiB`,
      },
    ),
    recordArtifacts: text(
      '--record-artifacts <dir>',
      'with --record: also keep each downloaded artifact as DIR/<sha256>, mode 0600 (they may be malware)',
      {
        env: 'POLYSWARM_RECORD_ARTIFACTS',
      },
    ),
  },
  examples: [
    'WEBHOOK_SECRET=... polyswarm-engine start --host 0.0.0.0 --port 8080',
    'polyswarm-engine start --queue redis://127.0.0.1:6379',
    'polyswarm-engine start --record deliveries.jsonl --record-artifacts ./artifacts',
  ],
  async run({ options, sources, origins }) {
    const { runEngineProcess } = await import('../runtime/engine-process.js');
    return runEngineProcess({
      mode: 'start',
      ...options,
      secretFlag: sources.secret === 'flag',
      secretFrom: sources.secret,
      secretFileFrom: sources.secretFile,
      previousSecretFlag: sources.previousSecret === 'flag',
      secretSource: origins.secret,
    });
  },
});
