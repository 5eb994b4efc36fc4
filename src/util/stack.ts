/**
 * Where an author's code threw: the first stack frame that is not node's, this package's or a dependency's, as
 * `file:line:col`. Logs of a failed scan carry it, so the line to fix is named without reading the engine's frames.
 */
import { fileURLToPath } from 'node:url';

/** This package's root (`dist/util/stack.js` → `../../`), whose frames are the engine's, not the author's. */
const OWN_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OWN_DIRS = [`${OWN_ROOT}dist`, `${OWN_ROOT}src`].map((d) => d.replace(/\\/g, '/'));

/** `file:line:col` of one stack line (`    at fn (file:///x/a.js:1:2)` → `/x/a.js:1:2`), or undefined. */
function location(line: string): string | undefined {
  const match = /^\s+at (?:.*?\((.+)\)|(.+))$/.exec(line);
  let where = (match?.[1] ?? match?.[2])?.trim();
  if (!where) return undefined;
  if (where.startsWith('file://')) {
    const m = /^(file:\/\/.+?)(:\d+:\d+)?$/.exec(where);
    try {
      where = fileURLToPath(m![1]!) + (m![2] ?? '');
    } catch {
      // Leave a URL that is not a file path as it is.
    }
  }
  return where;
}

function isAuthors(where: string): boolean {
  const path = where.replace(/\\/g, '/');
  if (path.startsWith('node:') || path.startsWith('native') || path.includes('/node_modules/') || !/:\d+:\d+$/.test(path)) return false;
  return !OWN_DIRS.some((dir) => path.startsWith(dir));
}

/** The author's `file:line:col` in `error`'s stack; the first non-node frame when no frame is the author's. */
export function authorFrame(error: unknown): string | undefined {
  if (!(error instanceof Error) || typeof error.stack !== 'string') return undefined;
  const frames = error.stack
    .split('\n')
    .map(location)
    .filter((w): w is string => w !== undefined);
  return frames.find(isAuthors) ?? frames.find((w) => !w.startsWith('node:'));
}
