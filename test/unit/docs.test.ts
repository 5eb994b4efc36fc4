/**
 * docs/protocol.md is the repository's own statement of the protocol: nothing may point at documents outside the
 * repository, every `docs/protocol.md §N` citation must name a section that exists, and the test vectors printed
 * there must be what the code computes.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultBid } from '../../src/protocol/bid.js';
import { sign } from '../../src/protocol/signature.js';
import { commandBlocks } from '../helpers/markdown.js';
import { BENIGN_BODY, MALICIOUS_BODY } from './protocol/reference-fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOC_PATH = 'docs/protocol.md';
const DOC = readFileSync(join(ROOT, DOC_PATH), 'utf8');

/** Every file under the given top-level entries, except installed and built ones. */
function repositoryFiles(entries: string[]): string[] {
  const files: string[] = [];
  const walk = (path: string): void => {
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path)) if (name !== 'node_modules' && name !== 'dist') walk(join(path, name));
    } else files.push(relative(ROOT, path));
  };
  for (const entry of entries) walk(join(ROOT, entry));
  return files;
}

const FILES = repositoryFiles(['src', 'test', 'bench', 'templates', 'docs', '.ci', 'README.md']);

/** Each line of each file, numbered, for messages that say where. */
function* lines(): Generator<{ where: string; text: string }> {
  for (const file of FILES) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    if (text.includes('\u0000')) continue; // binary
    const all = text.split('\n');
    for (let i = 0; i < all.length; i++) yield { where: `${file}:${i + 1}`, text: all[i]! };
  }
}

/** The numbers of the doc's `## N. Title` sections, in order. */
const SECTIONS = [...DOC.matchAll(/^## (\d+)\. /gm)].map((m) => Number(m[1]));

/** A section's text, from its heading to the next `## `. */
function section(n: number): string {
  const start = DOC.search(new RegExp(`^## ${n}\\. `, 'm'));
  if (start < 0) throw new Error(`${DOC_PATH} has no section ${n}`);
  const next = DOC.slice(start + 1).search(/^## /m);
  return next < 0 ? DOC.slice(start) : DOC.slice(start, start + 1 + next);
}

/** Table rows of a markdown text, as trimmed cells, header and separator rows excluded. */
function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[-| ]+\|$/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
}

const unquote = (cell: string): string => cell.replace(/^`(.*)`$/, '$1');

describe('docs/protocol.md', () => {
  it('is what the repository refers to: no file points at documents outside it', () => {
    // Spelled in pieces so that this file does not match itself.
    const outside = [
      ['decisions', 'md'].join('.'),
      ['protocol', 'reference'].join('-'),
      ['..', 'shared'].join('/'),
      ['shared', 'docs'].join('/'),
    ];
    const found: string[] = [];
    for (const { where, text } of lines()) {
      for (const name of outside) if (text.includes(name)) found.push(`${where} mentions ${name}`);
    }
    expect(FILES.length).toBeGreaterThan(100);
    expect(found).toEqual([]);
  });

  it('has numbered sections 1..N, each with a stable anchor just above its heading', () => {
    expect(SECTIONS.length).toBeGreaterThanOrEqual(15);
    expect(SECTIONS).toEqual(SECTIONS.map((_, i) => i + 1));
    for (const n of SECTIONS) {
      expect(DOC, `section ${n} has an <a id> anchor`).toMatch(new RegExp(`<a id="[a-z-]+"></a>\\n\\n## ${n}\\. `));
    }
    // The table of contents links only to anchors that exist.
    const anchors = new Set([...DOC.matchAll(/<a id="([a-z-]+)"><\/a>/g)].map((m) => m[1]));
    for (const [, target] of DOC.matchAll(/\]\(#([a-z-]+)\)/g)) expect(anchors, `#${target}`).toContain(target);
  });

  it('has every section that a `docs/protocol.md §N` citation (or a § inside the doc) names', () => {
    const citations: string[] = [];
    const missing: string[] = [];
    for (const { where, text } of lines()) {
      const inDoc = where.startsWith(`${DOC_PATH}:`);
      // Outside the doc a citation is `docs/protocol.md §6`, or a list such as `docs/protocol.md §6/§10, §12`.
      const spans = inDoc ? [text] : [...text.matchAll(/docs\/protocol\.md\s*(§\d+(?:\s*(?:\/|,|and|or)\s*§\d+)*)/g)].map((m) => m[1]!);
      for (const span of spans) {
        for (const [, n] of span.matchAll(/§(\d+)/g)) {
          citations.push(`${where} §${n}`);
          if (!SECTIONS.includes(Number(n))) missing.push(`${where} cites §${n}`);
        }
      }
    }
    expect(citations.some((c) => c.startsWith('src/engine/defaults.ts'))).toBe(true);
    expect(missing).toEqual([]);
  });

  it('prints the signature vectors the code computes (§15)', () => {
    const blocks = [...section(15).matchAll(/```text\n(.*)\n```/g)].map((m) => m[1]!);
    expect(blocks).toEqual([BENIGN_BODY, MALICIOUS_BODY]);
    const bodies: Record<string, string> = {
      '*(empty)*': '',
      '`{}`': '{}',
      'the benign body below (354 bytes)': BENIGN_BODY,
      'the malicious body below (429 bytes)': MALICIOUS_BODY,
    };
    const rows = tableRows(section(15)).filter((cells) => cells.length === 3 && /^`[0-9a-f]{64}`$/.test(cells[2]!));
    expect(rows).toHaveLength(5);
    for (const [secret, body, signature] of rows) {
      const key = unquote(secret!.split(' ')[0]!);
      expect(Object.keys(bodies)).toContain(body);
      expect(sign(key, bodies[body!]!), `${secret} / ${body}`).toBe(unquote(signature!));
    }
    expect(Buffer.byteLength(BENIGN_BODY)).toBe(354);
    expect(Buffer.byteLength(MALICIOUS_BODY)).toBe(429);
  });

  it('prints the default bids the code computes (§15)', () => {
    const rows = tableRows(section(15)).filter((cells) => cells.length === 4 && cells.every((c) => /^-?[\d.]+$/.test(c)));
    expect(rows.length).toBeGreaterThanOrEqual(10);
    for (const [min, max, confidence, bid] of rows) {
      const rules = { min_allowed_bid: BigInt(min!), max_allowed_bid: BigInt(max!) };
      expect(defaultBid(rules, Number(confidence)), `${min} ${max} ${confidence}`).toBe(BigInt(bid!));
    }
  });
});

// The README is what a newcomer reads in the first hour; the rest lives in docs/, linked from it.
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const PAGES = readdirSync(join(ROOT, 'docs'))
  .filter((name) => name.endsWith('.md'))
  .map((name) => `docs/${name}`);
const MARKDOWN = ['README.md', ...PAGES];

/** GitHub's heading anchors: lowercased, punctuation dropped, spaces as hyphens, `-1`… for repeats. */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>([...text.matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1]!));
  const seen = new Map<string, number>();
  for (const [, heading] of text.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading!
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

describe('README.md and docs/', () => {
  it('the README fits the first hour: at most 250 lines, linking every docs page', () => {
    expect(README.split('\n').length).toBeLessThanOrEqual(250);
    for (const page of [
      'guide',
      'configuration',
      'production-and-redis',
      'security',
      'metrics',
      'inspector-and-replay',
      'testing-any-engine',
      'protocol',
    ])
      expect(README, page).toContain(`](docs/${page}.md)`);
    // The quick start names the system packages the test suite needs.
    expect(README).toContain('apt-get install -y redis-server clamav clamav-daemon chromium');
    expect(README).toMatch(/^npm test +#/m);
  });

  it('every relative link points at a file that exists, and at a heading or anchor that exists in it', () => {
    const broken: string[] = [];
    for (const file of MARKDOWN) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const resolved = path === '' ? file : relative(ROOT, join(ROOT, file, '..', path));
        let exists = true;
        try {
          statSync(join(ROOT, resolved));
        } catch {
          exists = false;
        }
        if (!exists) broken.push(`${file}: ${target} (no ${resolved})`);
        else if (anchor && !anchorsOf(readFileSync(join(ROOT, resolved), 'utf8')).has(anchor))
          broken.push(`${file}: ${target} (no #${anchor})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('every command block is run by test/e2e/docs-commands.test.ts or says why not (<!-- not run: reason -->)', () => {
    const blocks = MARKDOWN.flatMap((file) => commandBlocks(file, readFileSync(join(ROOT, file), 'utf8')));
    expect(blocks.filter((b) => b.note === 'run').length).toBeGreaterThanOrEqual(5);
    expect(blocks.filter((b) => b.note === null).map((b) => `${b.file}:${b.line}`)).toEqual([]);
  });
});
