/**
 * `polyswarm-engine secret --write`: gives a project that has no `.env` (a teammate's fresh clone: `.env` is
 * git-ignored) one with a new WEBHOOK_SECRET, built from `.env.example` like `init` does. It never replaces a
 * secret that is already there.
 */
import { constants } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CliError } from '../util/errors.js';
import { findProject } from '../util/project.js';
import { envFromExample, envWithSecret, generateSecret } from './scaffold.js';

export type WriteSecretOutcome = { status: 'created'; path: string } | { status: 'added'; path: string } | { status: 'kept'; path: string };

/**
 * Writes `<dir>/.env` with a fresh WEBHOOK_SECRET when there is none (from `.env.example` when the project has
 * one), or appends WEBHOOK_SECRET to an existing `.env` that lacks it or leaves it empty; otherwise changes nothing.
 * Refuses (a UsageError, as `serve` does) a folder that is not an engine project: a `.env` there would serve nothing.
 */
export async function writeSecret(dir: string, secret: string = generateSecret()): Promise<WriteSecretOutcome> {
  findProject(dir);
  const path = join(dir, '.env');
  let existing: string | null;
  try {
    existing = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new CliError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
    existing = null;
  }
  if (existing === null) {
    const example = await readFile(join(dir, '.env.example'), 'utf8').catch(() => '');
    try {
      // wx: a .env that appeared meanwhile is never overwritten; 0600: it holds a secret.
      const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      await handle.writeFile(envFromExample(example, secret));
      await handle.close();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return writeSecret(dir, secret);
      throw new CliError(`cannot write ${path}: ${(error as Error).message}`, { cause: error });
    }
    return { status: 'created', path };
  }
  const text = envWithSecret(existing, secret);
  if (text === null) return { status: 'kept', path };
  await writeFile(path, text);
  return { status: 'added', path };
}
