/**
 * Reading the author's source for a load error: the line an import names, and the one-line code frame under the
 * error message (loader.ts).
 */
import { readFileSync } from 'node:fs';
import type { SourceLocation } from './loader.js';

export function readLines(file: string): string[] | undefined {
  try {
    return readFileSync(file, 'utf8').split(/\r?\n/);
  } catch {
    return undefined;
  }
}

/** The line and column (1-based) of the first quoted occurrence of `specifier` in `file`. */
export function findSpecifier(file: string, specifiers: string[]): { line: number; column: number } | undefined {
  const lines = readLines(file);
  if (!lines) return undefined;
  for (const specifier of specifiers) {
    for (const quote of ["'", '"', '`']) {
      const needle = `${quote}${specifier}${quote}`;
      const index = lines.findIndex((l) => l.includes(needle));
      if (index >= 0) return { line: index + 1, column: lines[index]!.indexOf(needle) + 1 };
    }
  }
  return undefined;
}

/** The line at `location` with a caret under its column, or undefined when the file or line cannot be read. */
export function sourceFrame(location: SourceLocation): string | undefined {
  if (location.line === undefined) return undefined;
  const text = readLines(location.file)?.[location.line - 1];
  if (text === undefined) return undefined;
  const gutter = String(location.line);
  const shown = text.length > 160 ? `${text.slice(0, 157)}...` : text;
  const lines = [`  ${gutter} | ${shown}`];
  if (location.column !== undefined && location.column - 1 <= shown.length) {
    const pad = shown.slice(0, Math.max(0, location.column - 1)).replace(/[^\t]/g, ' ');
    lines.push(`  ${' '.repeat(gutter.length)} | ${pad}^`);
  }
  return lines.join('\n');
}
