/**
 * `polyswarm-engine serve`: run the project's engine for development, reloading `src/` on save.
 * Thin: the process is hosted by `runtime/engine-process.ts`.
 */
import { defineCommand, negated } from './define.js';
import { egressOptions, webhookOptions } from './engine-options.js';

export const serve = defineCommand({
  name: 'serve',
  description: 'run the engine in this project for development, reloading src/ on save',
  options: {
    ...webhookOptions('127.0.0.1'),
    ...egressOptions('any'),
    watch: negated('--no-watch', 'do not reload on file changes'),
  },
  examples: ['polyswarm-engine serve', 'polyswarm-engine serve --port 8080 --no-watch', 'polyswarm-engine serve --port 0'],
  async run({ options, sources, origins }) {
    const { runEngineProcess } = await import('../runtime/engine-process.js');
    return runEngineProcess({
      mode: 'serve',
      ...options,
      portOrigin: sources.port === 'default' ? undefined : origins.port,
      secretFlag: sources.secret === 'flag',
      secretFrom: sources.secret,
      secretFileFrom: sources.secretFile,
      previousSecretFlag: sources.previousSecret === 'flag',
      secretSource: origins.secret,
    });
  },
});
