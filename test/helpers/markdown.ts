/**
 * The command blocks of the README and docs/ (test/unit/docs.test.ts checks each is annotated;
 * test/e2e/docs-commands.test.ts runs those marked `<!-- run -->`).
 */

/** A fenced block of commands (sh, bash, shell), with the HTML comment just above it, if any. */
export interface CommandBlock {
  file: string;
  line: number;
  code: string;
  /** `run`, `not run: <reason>`, or null when the block has neither. */
  note: string | null;
}

/** The command blocks of a markdown file (fences may be indented, inside a list). */
export function commandBlocks(file: string, text: string): CommandBlock[] {
  const blocks: CommandBlock[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
    if (['sh', 'bash', 'shell'].includes(open[2]!)) {
      const above = lines
        .slice(0, i)
        .reverse()
        .find((l) => l.trim() !== '');
      const note = /^\s*<!-- (run|not run: .+?) -->\s*$/.exec(above ?? '')?.[1] ?? null;
      const code = lines
        .slice(i + 1, end)
        .map((l) => l.slice(open[1]!.length))
        .join('\n');
      blocks.push({ file, line: i + 1, code, note });
    }
    i = end;
  }
  return blocks;
}
