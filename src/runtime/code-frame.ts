/**
 * `serve` shows the line of scan code that threw under the `scan failed` log line: at a terminal a code frame reads
 * faster than a stack. Production logs keep one line per event (its `at` and `stack` fields).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { EngineObserver } from '../engine/observer.js';
import { flushLogs, theme } from '../util/logger.js';

/** `/x/src/scan.ts:12:9` → its parts, or null. */
function parseAt(at: string): { file: string; line: number; column: number } | null {
  const m = /^(.*):(\d+):(\d+)$/.exec(at);
  return m ? { file: m[1]!, line: Number(m[2]), column: Number(m[3]) } : null;
}

/** Up to two lines either side of `line` (1-based), the line itself marked and its column pointed at. */
export function codeFrame(source: string, line: number, column: number): string {
  const lines = source.split(/\r?\n/);
  if (line < 1 || line > lines.length) return '';
  const first = Math.max(1, line - 2);
  const last = Math.min(lines.length, line + 2);
  const width = String(last).length;
  const out: string[] = [];
  for (let n = first; n <= last; n++) {
    const text = lines[n - 1]!.replace(/\t/g, '  ');
    const gutter = `${String(n).padStart(width)} |`;
    if (n === line) {
      out.push(`${theme.fail('>')} ${gutter} ${text}`);
      out.push(`  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, column - 1))}${theme.fail('^')}`);
    } else out.push(theme.dim(`  ${gutter} ${text}`));
  }
  return out.join('\n');
}

/** Prints a code frame to `out` for each scan error thrown from a file in `projectDir` (not its node_modules). */
export function codeFrameObserver(out: NodeJS.WritableStream, projectDir: string): EngineObserver {
  return {
    onScanError(event) {
      const at = event.at ? parseAt(event.at) : null;
      if (!at) return;
      const rel = relative(projectDir, at.file);
      if (rel.startsWith('..') || rel.includes('node_modules')) return;
      let source: string;
      try {
        source = readFileSync(at.file, 'utf8');
      } catch {
        return;
      }
      const frame = codeFrame(source, at.line, at.column);
      if (!frame) return;
      flushLogs();
      out.write(
        `\n  ${theme.bold(`${rel}:${at.line}:${at.column}`)} ${theme.dim(`(bounty ${event.bounty}, ${event.kind})`)}\n${frame.replace(/^/gm, '  ')}\n\n`,
      );
    },
  };
}
