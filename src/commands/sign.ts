import { sign } from '../protocol/signature.js';
import { resolveSecret } from '../util/env.js';
import { UsageError } from '../util/errors.js';
import { readInput } from '../util/input.js';

interface SignOptions {
  secret?: string;
}

/** `polyswarm-engine sign [file|-]`: prints the X-POLYSWARM-SIGNATURE of exactly those bytes. */
export async function run(args: string[], options: SignOptions): Promise<number> {
  const resolved = resolveSecret(options.secret);
  if (!resolved) {
    throw new UsageError('no webhook secret', {
      hint: 'Pass --secret, set WEBHOOK_SECRET, or put WEBHOOK_SECRET=... in .env in this folder.',
    });
  }
  const input = await readInput(args[0]);
  process.stdout.write(`${sign(resolved.secret, input.bytes)}\n`);
  return 0;
}
