/**
 * The house's layering, checked on every import in src/: a module may import its own layer and the layers below,
 * never one above. Lowest first: util → protocol → engine, simulator, scaffold → runtime → commands → cli, index.
 * Also: no file in src/ over 400 lines.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
const RANK: Record<string, number> = {
  util: 0,
  protocol: 1,
  engine: 2,
  simulator: 2,
  scaffold: 2,
  inspector: 2,
  runtime: 3,
  commands: 4,
  '': 5,
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** The layer of a file under src/: its first folder ('' for cli.ts and index.ts). */
function layer(path: string): string {
  const parts = relative(SRC, path).split('/');
  return parts.length > 1 ? parts[0]! : '';
}

describe('src/ layering', () => {
  const all = files(SRC);

  it('knows every layer', () => {
    for (const file of all) expect(Object.keys(RANK), relative(SRC, file)).toContain(layer(file));
  });

  it('imports only go downward (static and lazy imports alike)', () => {
    const violations: string[] = [];
    for (const file of all) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/(?:from\s+|import\(\s*)'(\.{1,2}\/[^']+)'/g)) {
        const target = resolve(dirname(file), match[1]!);
        if (!target.startsWith(SRC)) continue;
        const from = layer(file);
        const to = layer(target.endsWith('.js') ? target : `${target}/x`);
        if (RANK[to]! > RANK[from]!) violations.push(`${relative(SRC, file)} imports ${match[1]} (${from || 'top'} → ${to || 'top'})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('no file over 400 lines', () => {
    const long = all.map((f) => [relative(SRC, f), readFileSync(f, 'utf8').split('\n').length] as const).filter(([, n]) => n > 400);
    expect(long).toEqual([]);
  });
});
