/** `polyswarm-engine serve`: the project's engine for development (runtime/engine-process.ts). */
import { DEFAULT_HISTORY_BYTES, DEFAULT_INSPECTOR_PORT } from '../inspector/defaults.js';
import { defineCommand, integer, negated, size } from './define.js';
import { egressOptions, webhookOptions } from './engine-options.js';

export const serve = defineCommand({
  name: 'serve',
  description: 'run the engine in this project for development, reloading src/ on save',
  options: {
    ...webhookOptions('127.0.0.1'),
    ...egressOptions('any'),
    watch: negated('--no-watch', 'do not reload on file changes'),
    inspector: negated('--no-inspector', 'do not serve the inspector page (every bounty, its answer, replay)'),
    inspectorPort: integer('--inspector-port <port>', 'port of the inspector page, on 127.0.0.1 (a free one if taken)', {
      min: 0,
      max: 65_535,
      env: 'POLYSWARM_INSPECTOR_PORT',
      defaultValue: DEFAULT_INSPECTOR_PORT,
    }),
    inspectorHistory: size('--inspector-history <size>', 'memory the inspector’s history may hold; the oldest go first', {
      min: 64 * 1024,
      env: 'POLYSWARM_INSPECTOR_HISTORY',
      defaultValue: DEFAULT_HISTORY_BYTES,
      defaultLabel: `${DEFAULT_HISTORY_BYTES / 1024 ** 2}MiB`,
    }),
  },
  examples: [
    'polyswarm-engine serve',
    'polyswarm-engine serve --port 8080 --no-watch',
    'polyswarm-engine serve --port 0',
    'polyswarm-engine serve --inspector-port 4041',
    'polyswarm-engine serve --no-inspector',
  ],
  async run({ options, sources, origins }) {
    const { runEngineProcess } = await import('../runtime/engine-process.js');
    return runEngineProcess({ mode: 'serve', ...options, sources, origins });
  },
});
