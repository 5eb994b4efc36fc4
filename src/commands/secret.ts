/** `polyswarm-engine secret`: a fresh webhook secret, printed, or written to the project's `.env` (--write). */
import { defineCommand, flag } from './define.js';
import { cwdOption } from './engine-options.js';

export const secret = defineCommand({
  name: 'secret',
  description: 'print a new webhook secret, or write one to .env when it has none (--write)',
  options: {
    write: flag('-w, --write', "write WEBHOOK_SECRET to the project's .env if it has none (never replaces one)"),
    cwd: cwdOption(),
  },
  examples: [
    'polyswarm-engine secret --write   # after cloning a project: .env is git-ignored, so make yours',
    'polyswarm-engine secret           # 64 hex characters, for a secret you set elsewhere',
  ],
  async run({ options }) {
    const { generateSecret } = await import('../scaffold/scaffold.js');
    if (!options.write) {
      process.stdout.write(`${generateSecret()}\n`);
      return 0;
    }
    const { resolve } = await import('node:path');
    const { writeSecret } = await import('../scaffold/secret.js');
    const outcome = await writeSecret(resolve(options.cwd));
    const said = {
      created: `wrote ${outcome.path} with a new random WEBHOOK_SECRET`,
      added: `added a new random WEBHOOK_SECRET to ${outcome.path}`,
      kept: `${outcome.path} already has a WEBHOOK_SECRET: left as it is`,
    }[outcome.status];
    process.stderr.write(`${said}\n`);
    return 0;
  },
});
