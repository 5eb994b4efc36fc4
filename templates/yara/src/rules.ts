/**
 * The rule set: which `.yar` files make it up, its version, and what a compile error looks like.
 *
 * Every `.yar`/`.yara` file under `rules/` (subfolders too) is part of the set, except the files another rule file
 * `include`s: those are compiled where they are included, not a second time on their own. So a folder of
 * stand-alone rule files works as it is, and so does a rule set with an index file that includes the rest.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

export interface RuleSet {
  /** The rules folder (absolute). */
  dir: string;
  /** Every rule file (absolute, sorted), included ones too. */
  files: string[];
  /** The files compiled on their own (the others are included by one of them). */
  entries: string[];
  /** A hash of the rule files' names and contents: `metadata.scanner.signatures_version`. */
  version: string;
  /** What the compiler is given: one `include` of each entry file. */
  source: string;
}

const RULE_FILE = /\.(yar|yara)$/i;
// `include "path"` at the start of a line (YARA's only form of include).
const INCLUDE = /^[ \t]*include[ \t]+"((?:[^"\\]|\\.)*)"/gm;

function ruleFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...ruleFiles(path));
    else if (RULE_FILE.test(entry.name)) out.push(path);
  }
  return out;
}

/**
 * Reads the rule set in `dir`. Throws when the folder cannot be read or holds no rule file (an engine with no
 * rules would answer every bounty benign).
 */
export function loadRuleSet(dir: string): RuleSet {
  const root = resolve(dir);
  const files = ruleFiles(root).sort();
  if (files.length === 0) throw new Error(`no .yar or .yara file in ${root}: add your rules there`);
  const hash = createHash('sha256');
  const included = new Set<string>();
  for (const file of files) {
    const text = readFileSync(file);
    hash.update(`${relative(root, file).split(sep).join('/')}\0${text.length}\0`).update(text);
    for (const [, path] of text.toString('utf8').matchAll(INCLUDE)) {
      const name = path!.replace(/\\(.)/g, '$1');
      // YARA-X looks for an included file beside the file that includes it, then in the rules folder.
      for (const candidate of isAbsolute(name) ? [name] : [resolve(dirname(file), name), resolve(root, name)]) included.add(candidate);
    }
  }
  const entries = files.filter((f) => !included.has(f));
  const source = entries.map((f) => `include ${JSON.stringify(f)}\n`).join('');
  return { dir: root, files, entries, version: hash.digest('hex').slice(0, 12), source };
}

export interface RuleLocation {
  /** The rule file (absolute). */
  file: string;
  line: number;
  column: number;
}

/**
 * A rule that does not compile. `location` is where the compiler points: polyswarm-engine shows that line of the
 * rule file (under `npm run dev`, `test`'s header and at startup), as it does for an error in src/scan.ts.
 */
export class RuleCompileError extends Error {
  readonly location: RuleLocation | undefined;
  /** The compiler's full report, with its own excerpt of the rule. */
  readonly report: string;
  constructor(message: string, location: RuleLocation | undefined, report: string) {
    super(message);
    this.name = 'RuleCompileError';
    this.location = location;
    this.report = report;
  }
}

/**
 * YARA-X's error text (`error[E009]: unknown identifier `foo`\n --> sub/x.yar:3:5\n … ^^^ this identifier has not
 * been declared`) as a RuleCompileError: the title and the label under the carets as the message, the rule file
 * found from the path the compiler prints (as written in an `include`, so relative paths are matched against the set's files).
 */
export function ruleCompileError(report: string, set: RuleSet): RuleCompileError {
  const text = report.replace(/^Compilation error \(\w+\): /, '');
  const title = /^error\[(\w+)\]: (.*)$/m.exec(text);
  const label = /^[ \t]*\|[ \t]*\^+[ \t]*(.+)$/m.exec(text)?.[1]?.trim();
  const message = title ? `${title[2]}${label ? `: ${label}` : ''} (${title[1]})` : text.split('\n')[0]!;
  const at = /^[ \t]*--> (.+):(\d+):(\d+)[ \t]*$/m.exec(text);
  if (!at) return new RuleCompileError(message, undefined, text);
  const line = Number(at[2]);
  const column = Number(at[3]);
  // `line:N` is the generated source, one include per line: the error is in including entry N (it vanished, say).
  if (at[1] === 'line') {
    const file = set.entries[line - 1];
    return new RuleCompileError(message, file ? { file, line: 1, column: 1 } : undefined, text);
  }
  const named = at[1]!;
  const file = isAbsolute(named)
    ? named
    : (set.files.find((f) => f === resolve(set.dir, named)) ?? set.files.find((f) => f.endsWith(sep + named.split('/').join(sep))));
  return new RuleCompileError(message, file ? { file, line, column } : undefined, text);
}
