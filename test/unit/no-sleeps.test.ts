/**
 * No fixed sleeps in the test suite: a test waits for its condition (`until`, `holds`, `within` from
 * test/helpers/poll.ts) or drives a fake clock, never for a guessed number of milliseconds, which is both slow and
 * flaky. Outside poll.ts, a promise a timer resolves is refused, and so is node:timers/promises. Code inside string
 * literals is the source of a child process's engine (a slow scan on purpose), not the test's, and is not scanned.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/bin.js';

const ALLOWED = 'test/helpers/poll.ts';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(path);
    return /\.(ts|mjs|js)$/.test(e.name) ? [path] : [];
  });
}

/** The source with the contents of its string and template literals and comments blanked (line numbers kept). */
function codeOnly(source: string): string {
  return source.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\/|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`/g, (m) =>
    m.replace(/[^\n]/g, ' '),
  );
}

/** new Promise((r) => setTimeout(r, 100)), new Promise((resolve) => setTimeout(() => resolve(x), 100)) */
const TIMER_PROMISE = /new Promise\s*(?:<[^>]*>)?\(\s*\(?\s*(\w+)[^)]*\)?\s*=>\s*\{?\s*setTimeout\(\s*(?:\1\b|\(\)\s*=>\s*\{?\s*\1\()/g;
/** Read in the source as it is: the module name is a string literal. */
const TIMERS_PROMISES = /\bfrom\s+["']node:timers\/promises["']|require\(\s*["']node:timers\/promises["']\s*\)/g;

/** Each fixed sleep in `source`, as `line: what`. */
function sleepsIn(source: string): string[] {
  const found: string[] = [];
  const scan = (text: string, pattern: RegExp, what: string) => {
    for (const m of text.matchAll(pattern)) found.push(`${text.slice(0, m.index).split('\n').length}: ${what}`);
  };
  scan(codeOnly(source), TIMER_PROMISE, 'a promise a timer resolves');
  scan(source, TIMERS_PROMISES, 'node:timers/promises');
  return found;
}

describe('no fixed sleeps in test/', () => {
  it('finds the sleeps it is meant to find, and not a deadline, a poll or a child process source', () => {
    expect(sleepsIn('await new Promise((r) => setTimeout(r, 300));')).toEqual(['1: a promise a timer resolves']);
    expect(sleepsIn('x;\nawait new Promise<void>((resolve) => setTimeout(() => resolve(), 50));')).toEqual([
      '2: a promise a timer resolves',
    ]);
    expect(sleepsIn("import { setTimeout as sleep } from 'node:" + "timers/promises';")).toEqual(['1: node:timers/promises']);
    expect(sleepsIn('const timer = setTimeout(() => reject(new Error("late")), 5000);')).toEqual([]);
    expect(sleepsIn("const src = 'await new Promise((r) => setTimeout(r, 4000));';")).toEqual([]);
    expect(sleepsIn('// await new Promise((r) => setTimeout(r, 10))')).toEqual([]);
  });

  it(`none outside ${ALLOWED}: poll for the condition (until, holds, within) or use a fake clock`, () => {
    const found = sources(join(ROOT, 'test'))
      .map((path) => relative(ROOT, path))
      .filter((path) => path !== ALLOWED)
      .flatMap((path) => sleepsIn(readFileSync(join(ROOT, path), 'utf8')).map((hit) => `${path}:${hit}`));
    expect(found).toEqual([]);
  });
});
