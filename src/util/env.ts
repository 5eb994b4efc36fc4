import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { UsageError } from './errors.js';

/** Reads `<dir>/.env` (dotenv syntax) into an object; a missing file is an empty object. */
export function readDotEnv(dir: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(join(dir, '.env'), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // No file, or `dir` is not a folder (the command reports that itself, with its own hint).
    if (code === 'ENOENT' || code === 'ENOTDIR') return {};
    throw new UsageError(`cannot read ${join(dir, '.env')}: ${(error as Error).message}`, { hint: 'Check the file and its permissions.' });
  }
  return parseEnv(text) as Record<string, string>;
}

/** Loads `<dir>/.env` into `env`, the real environment winning (as with dotenv); returns the names it set. */
export function loadDotEnv(dir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const loaded: string[] = [];
  for (const [key, value] of Object.entries(readDotEnv(dir))) {
    if (env[key] === undefined) {
      env[key] = value;
      loaded.push(key);
    }
  }
  return loaded;
}

/**
 * `.env` loaded into `env` and kept in step with the file: `reload()` reads it again, sets what changed and removes
 * what is gone, never touching a variable the real environment set. Returns the names that changed.
 */
export function trackDotEnv(dir: string, env: NodeJS.ProcessEnv = process.env): { loaded: string[]; reload(): string[] } {
  const fromFile = new Map<string, string>();
  for (const name of loadDotEnv(dir, env)) fromFile.set(name, env[name]!);
  const real = new Set(Object.keys(env).filter((name) => !fromFile.has(name)));
  return {
    loaded: [...fromFile.keys()],
    reload() {
      const now = readDotEnv(dir);
      const changed: string[] = [];
      for (const [name, value] of Object.entries(now)) {
        if (real.has(name) || fromFile.get(name) === value) continue;
        env[name] = value;
        fromFile.set(name, value);
        changed.push(name);
      }
      for (const name of [...fromFile.keys()]) {
        if (name in now) continue;
        delete env[name];
        fromFile.delete(name);
        changed.push(name);
      }
      return changed.sort();
    },
  };
}

export interface ResolvedSecret {
  secret: string;
  /** Where it came from, for messages. Never print the secret itself. */
  source: string;
}

/**
 * The secret `test` signs with: `--secret`, WEBHOOK_SECRET, PSENGINE_WEBHOOK_SECRET, then those in `<cwd>/.env`;
 * undefined when none is set (empty counts as unset). An engine's own secret is runtime/secret.ts.
 */
export function lookupSecret(
  flag: string | undefined,
  cwd: string = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): ResolvedSecret | undefined {
  if (flag !== undefined && flag !== '') return { secret: flag, source: '--secret' };
  for (const name of ['WEBHOOK_SECRET', 'PSENGINE_WEBHOOK_SECRET']) {
    const value = env[name];
    if (value) return { secret: value, source: `$${name}` };
  }
  const dotenv = readDotEnv(cwd);
  for (const name of ['WEBHOOK_SECRET', 'PSENGINE_WEBHOOK_SECRET']) {
    const value = dotenv[name];
    if (value) return { secret: value, source: `${name} in ${join(cwd, '.env')}` };
  }
  return undefined;
}
