/** `polyswarm-engine sign [file|-]`: prints the X-POLYSWARM-SIGNATURE of exactly those bytes. */
import { defineCommand } from './define.js';
import { secretOption } from './engine-options.js';

export const sign = defineCommand({
  name: 'sign',
  description: 'print the X-POLYSWARM-SIGNATURE of a body (exactly its bytes)',
  args: [{ name: '[file]', description: 'file to sign, or - for stdin', defaultValue: '-' }],
  options: { secret: secretOption() },
  examples: [
    'polyswarm-engine sign bounty.json --secret qwertyuiop',
    "printf '' | polyswarm-engine sign -   # a ping's empty body",
    'curl -X POST http://127.0.0.1:3000/ -H "X-POLYSWARM-EVENT: bounty" \\\n      -H "X-POLYSWARM-SIGNATURE: $(polyswarm-engine sign bounty.json)" --data-binary @bounty.json',
  ],
  async run({ args, options }) {
    if (!options.secret) {
      const { UsageError } = await import('../util/errors.js');
      throw new UsageError('no webhook secret', {
        hint: 'Pass --secret, set WEBHOOK_SECRET, or put WEBHOOK_SECRET=... in .env in this folder.',
      });
    }
    const { sign: signature } = await import('../protocol/signature.js');
    const { readInput } = await import('../util/input.js');
    const input = await readInput(args[0]);
    process.stdout.write(`${signature(options.secret, input.bytes)}\n`);
    return 0;
  },
});
