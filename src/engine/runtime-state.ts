/**
 * `<project>/.polyswarm/serve.json`: how `polyswarm-engine test` finds the project's running `serve` (zero setup).
 * Written once the server listens, removed when it stops; a stale file (a killed process) is recognised by its pid.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ServeState {
  /** The engine's webhook URL, with a trailing slash. */
  url: string;
  pid: number;
  /** ISO timestamp. */
  startedAt: string;
}

/** The state file of the project in `dir`. */
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

/** Removes the state file if it still describes process `pid` (another serve may have taken over since). Sync: runs on exit too. */
export function removeServeState(dir: string, pid: number = process.pid): void {
  const state = readServeState(dir);
  if (state && state.pid !== pid) return;
  rmSync(serveStatePath(dir), { force: true });
}
