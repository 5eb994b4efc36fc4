/**
 * Finding the engine project a command runs on: a folder whose `src/` holds the author's scan module.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../util/errors.js';

/** Where the scan module may live, in order of preference (TypeScript first: a built `.js` beside it is output). */
export const SCAN_MODULE_FILES = ['scan.ts', 'scan.mts', 'scan.js', 'scan.mjs'] as const;

export interface EngineProject {
  /** The project folder (absolute). */
  dir: string;
  /** `<dir>/src` (absolute): what `serve` watches. */
  srcDir: string;
  /** The scan module (absolute), e.g. `<dir>/src/scan.ts`. */
  scanFile: string;
}

const LOOKED_FOR = SCAN_MODULE_FILES.map((f) => `src/${f}`).join(', ');

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Whether the folder looks like it was meant to be an engine project (so a missing scan file is the problem). */
function looksLikeEngineProject(dir: string): boolean {
  if (isDirectory(join(dir, 'src'))) return true;
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    return ['dependencies', 'devDependencies'].some((k) => pkg[k]?.['polyswarm-engine'] !== undefined);
  } catch {
    return false;
  }
}

/**
 * The engine project in `cwd` (the `--cwd` flag). Throws a UsageError (exit 2) saying what was looked for when
 * the folder does not exist, is not an engine project, or has no `src/scan.*`.
 */
export function findProject(cwd: string): EngineProject {
  const dir = resolve(cwd);
  if (!existsSync(dir)) {
    throw new UsageError(`${dir} does not exist`, { hint: 'Pass --cwd <your engine project folder>, or create one with `polyswarm-engine init`.' });
  }
  if (!isDirectory(dir)) {
    throw new UsageError(`${dir} is not a folder`, { hint: 'Pass --cwd <your engine project folder>.' });
  }
  const srcDir = join(dir, 'src');
  for (const name of SCAN_MODULE_FILES) {
    const scanFile = join(srcDir, name);
    if (existsSync(scanFile)) return { dir, srcDir, scanFile };
  }
  if (looksLikeEngineProject(dir)) {
    throw new UsageError(`${dir} has no scan module: looked for ${LOOKED_FOR}`, {
      hint: 'Create src/scan.ts exporting `async function scan(bounty, ctx)` (`polyswarm-engine init` shows one).',
    });
  }
  throw new UsageError(`${dir} is not a polyswarm-engine project: looked for ${LOOKED_FOR}`, {
    hint: 'Create one with `polyswarm-engine init my-engine`, or pass --cwd <your engine project folder>.',
  });
}
