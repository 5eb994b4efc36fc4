/** The engine project a command runs on (its `src/` holds the scan module), and the state file a running `serve` leaves. */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from './errors.js';

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

/** The engine project in `cwd`, or null when it has no `src/scan.*` (for callers that fall back to something else). */
export function detectProject(cwd: string): EngineProject | null {
  const dir = resolve(cwd);
  const srcDir = join(dir, 'src');
  for (const name of SCAN_MODULE_FILES) {
    const scanFile = join(srcDir, name);
    if (existsSync(scanFile)) return { dir, srcDir, scanFile };
  }
  return null;
}

/** The engine project in `cwd` (`--cwd`); a UsageError saying what was looked for when there is none. */
export function findProject(cwd: string): EngineProject {
  const dir = resolve(cwd);
  if (!existsSync(dir)) {
    throw new UsageError(`${dir} does not exist`, {
      hint: 'Pass --cwd <your engine project folder>, or create one with `polyswarm-engine init`.',
    });
  }
  if (!isDirectory(dir)) {
    throw new UsageError(`${dir} is not a folder`, { hint: 'Pass --cwd <your engine project folder>.' });
  }
  const project = detectProject(dir);
  if (project) return project;
  if (looksLikeEngineProject(dir)) {
    throw new UsageError(`${dir} has no scan module: looked for ${LOOKED_FOR}`, {
      hint: 'Create src/scan.ts exporting `async function scan(bounty, ctx)` (`polyswarm-engine init` shows one).',
    });
  }
  throw new UsageError(`${dir} is not a polyswarm-engine project: looked for ${LOOKED_FOR}`, {
    hint: 'Create one with `polyswarm-engine init my-engine`, or pass --cwd <your engine project folder>.',
  });
}

// `<project>/.polyswarm/serve.json`: how `polyswarm-engine test` finds the project's running `serve` (zero setup).
// Written once the server listens, removed when it stops; a stale file (a killed process) is recognised by its pid.

export interface ServeState {
  /** The engine's webhook URL, with a trailing slash. */
  url: string;
  pid: number;
  /** ISO timestamp. */
  startedAt: string;
  /** Set while the last save did not load: `src/scan.ts:5:29: SyntaxError: …`; serve runs the last good code. */
  stale?: string;
}

export function serveStatePath(dir: string): string {
  return join(dir, '.polyswarm', 'serve.json');
}

/** Records a running `serve`; the folder ignores itself in git, whatever the project's .gitignore says. */
export function writeServeState(dir: string, state: ServeState): string {
  const folder = join(dir, '.polyswarm');
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, '.gitignore'), '# Written by polyswarm-engine serve while it runs.\n*\n');
  const path = serveStatePath(dir);
  writeFileSync(path, `${JSON.stringify(state, null, 2)}\n`);
  return path;
}

/** The recorded state, or null when there is none or it is unreadable. */
export function readServeState(dir: string): ServeState | null {
  try {
    const state = JSON.parse(readFileSync(serveStatePath(dir), 'utf8')) as Partial<ServeState>;
    return typeof state.url === 'string' && typeof state.pid === 'number' && typeof state.startedAt === 'string'
      ? (state as ServeState)
      : null;
  } catch {
    return null;
  }
}

/** Whether process `pid` is alive (EPERM: alive, someone else's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The state of another `serve` of this project that is still running (not process `pid`), or null. */
export function otherLiveServe(dir: string, pid: number = process.pid): ServeState | null {
  const state = readServeState(dir);
  return state && state.pid !== pid && processAlive(state.pid) ? state : null;
}

/** Removes the state file if it still describes process `pid` (another serve may have taken over since). Sync: runs on exit too. */
export function removeServeState(dir: string, pid: number = process.pid): void {
  const state = readServeState(dir);
  if (state && state.pid !== pid) return;
  rmSync(serveStatePath(dir), { force: true });
}
