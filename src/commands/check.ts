/**
 * `polyswarm-engine check [file|-] [--as kind]`: validates a document against the shipped schemas.
 * Exit 0 valid, 1 invalid, 2 unreadable or not JSON.
 */
import { choice, defineCommand, flag } from './define.js';

const KINDS = ['assertion', 'vote', 'bounty', 'metadata'] as const;

export const check = defineCommand({
  name: 'check',
  description: 'validate a bounty, assertion, vote or scan metadata JSON document',
  args: [{ name: '[file]', description: 'file to check, or - for stdin', defaultValue: '-' }],
  options: {
    as: choice('--as <kind>', 'what the document is', KINDS, { defaultLabel: 'detected' }),
    json: flag('--json', 'print a machine-readable result'),
  },
  examples: ['polyswarm-engine check answer.json', 'cat bounty.json | polyswarm-engine check --as bounty'],
  run: ({ args, options }) => runCheck(args[0], options),
});

async function runCheck(file: string | undefined, options: { as?: (typeof KINDS)[number]; json: boolean }): Promise<number> {
  const { validateDocument } = await import('../protocol/validate.js');
  const { ExitCode } = await import('../util/errors.js');
  const { readInput } = await import('../util/input.js');
  const { theme } = await import('../util/logger.js');
  const input = await readInput(file);
  const result = validateDocument(options.as, input.bytes);
  const code = result.unreadable ? ExitCode.USAGE : result.valid ? ExitCode.OK : ExitCode.CHECK_FAILED;

  if (options.json) {
    process.stdout.write(
      JSON.stringify({
        file: input.name,
        kind: result.kind,
        detected: result.detected,
        valid: result.valid,
        errors: result.errors,
        warnings: result.warnings,
      }) + '\n',
    );
    return code;
  }

  const what = result.kind
    ? `${result.kind === 'metadata' ? 'scan metadata document' : `${result.kind}`}${result.detected ? ' (detected)' : ''}`
    : 'document';
  if (result.unreadable) {
    process.stderr.write(`${theme.cross} ${input.name}: ${result.errors[0].message}\n`);
    return code;
  }
  if (result.valid) {
    process.stdout.write(`${theme.pass} ${input.name} is a valid ${what}\n`);
  } else {
    process.stdout.write(
      `${theme.cross} ${input.name} is not a valid ${what}: ${result.errors.length} problem${result.errors.length === 1 ? '' : 's'}\n`,
    );
    for (const error of result.errors) process.stdout.write(`  ${error.path || '(document)'}: ${error.message}\n`);
    if (result.kind === null) process.stdout.write(`  ${theme.dim(`say which with --as ${KINDS.join('|')}`)}\n`);
  }
  for (const warning of result.warnings) process.stdout.write(`  ${theme.warn('warning')}: ${warning}\n`);
  return code;
}
