/** The webhook secret of `serve` and `start`, from `--secret` or `--secret-file` (or their variables). */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { errorMessage, UsageError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { ResolvedSecret } from '../util/env.js';
import type { EngineProject } from '../util/project.js';
import type { ValueSource } from './options.js';

/** The secret flags as the command resolved them: values, and where each came from (runtime/config.ts). */
export interface SecretConfig {
  cwd: string;
  secret?: string;
  secretFile?: string;
  previousSecret?: string;
  /** Where each value came from (runtime/config.ts; absent: not resolved through the CLI). */
  sources?: { secret?: ValueSource; secretFile?: ValueSource; previousSecret?: ValueSource };
  origins?: { secret?: string };
}

const RANK: Record<ValueSource, number> = { flag: 3, env: 2, dotenv: 1, default: 0 };

/**
 * The webhook secret: `--secret`/WEBHOOK_SECRET, or the file `--secret-file`/WEBHOOK_SECRET_FILE names, whichever
 * comes from the higher layer (the command line, then the environment, then the project's .env); both from the same
 * layer are ambiguous, so refused. Throws a UsageError when none is set (`start` runs nothing it cannot verify).
 */
export function resolveSecret(config: SecretConfig, mode: 'serve' | 'start', project: EngineProject): ResolvedSecret {
  const { secret, secretFile } = config;
  const from = config.sources?.secret ?? 'flag';
  const source = config.origins?.secret ?? 'the caller';
  if (secretFile === undefined) {
    if (!secret) throw missingSecret(mode, project);
    return { secret, source };
  }
  const fileFrom = config.sources?.secretFile ?? 'flag';
  const secretRank = secret === undefined ? -1 : RANK[from];
  if (secretRank === RANK[fileFrom]) {
    throw new UsageError(
      from === 'flag'
        ? 'both --secret and --secret-file are given'
        : `both WEBHOOK_SECRET and WEBHOOK_SECRET_FILE are set${from === 'dotenv' ? ' in .env' : ''}`,
      { hint: 'Keep one: --secret-file (or WEBHOOK_SECRET_FILE) keeps the secret out of `ps` and the environment.' },
    );
  }
  if (secretRank > RANK[fileFrom]) return { secret: secret!, source };
  // A flag's path is relative to where the command runs; a variable's (possibly from .env) to the project.
  const path = fileFrom === 'flag' ? resolve(secretFile) : resolve(config.cwd, secretFile);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read the webhook secret file ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : errorMessage(error)}`,
      { hint: 'Pass --secret-file <path> (or WEBHOOK_SECRET_FILE) naming a readable file that holds the secret.' },
    );
  }
  // A trailing newline (echo, most editors) is not part of the secret.
  const value = text.replace(/\r?\n$/, '');
  if (value.trim() === '') throw new UsageError(`the webhook secret file ${path} is empty`, { hint: 'Write the secret in it (one line).' });
  if (/[\r\n]/.test(value)) {
    throw new UsageError(`the webhook secret file ${path} holds more than one line`, { hint: 'Keep only the secret in it, on one line.' });
  }
  return { secret: value, source: path };
}

function missingSecret(mode: 'serve' | 'start', project: EngineProject): UsageError {
  const envFile = join(project.dir, '.env');
  return mode === 'start'
    ? new UsageError('WEBHOOK_SECRET is not set: `start` will not run an engine that cannot check signatures', {
        hint: `Set WEBHOOK_SECRET (or PSENGINE_WEBHOOK_SECRET) in the environment or in ${envFile}.`,
      })
    : new UsageError('no webhook secret: `serve` needs WEBHOOK_SECRET to check the signatures of incoming events', {
        hint: `Run \`polyswarm-engine secret --write\` to give ${envFile} a new random one (a fresh clone has no .env: it is git-ignored), or set WEBHOOK_SECRET in the environment.`,
      });
}

/** Every long-running process says so when a secret is on its command line, visible in `ps` for as long as it runs. */
export function warnSecretFlags(config: SecretConfig, resolved: ResolvedSecret, logger: Logger): void {
  const onCommandLine: [boolean, string][] = [
    [config.sources?.secret === 'flag' && resolved.source === config.origins?.secret, '--secret'],
    [config.sources?.previousSecret === 'flag', '--previous-secret'],
  ];
  for (const [given, flag] of onCommandLine) {
    if (!given) continue;
    logger.warn(`a webhook secret was given with ${flag}, where \`ps\` shows it to every user of this machine`, {
      hint: 'use --secret-file (WEBHOOK_SECRET_FILE), or set WEBHOOK_SECRET in the environment or the project’s .env',
    });
  }
}
