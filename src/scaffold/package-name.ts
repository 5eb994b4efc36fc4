/**
 * npm's package-name rules (the ones `validate-npm-package-name` enforces for new packages), so `init`
 * refuses a name that `npm install` or `npm publish` would reject later, and proposes one that works.
 */
import { builtinModules } from 'node:module';

export interface PackageNameCheck {
  valid: boolean;
  /** Each rule the name breaks, as a phrase ("must be lowercase"). */
  problems: string[];
  /** A valid name close to the input (equal to it when it is valid). */
  suggestion: string;
}

const MAX_LENGTH = 214;
const RESERVED = new Set(['node_modules', 'favicon.ico']);
const BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith('_')).map((m) => m.replace(/^node:/, '')));

function urlSafe(part: string): boolean {
  return encodeURIComponent(part) === part && !/[~'!()*]/.test(part);
}

/** Checks `name` against npm's rules for new packages (scoped names `@scope/name` included). */
export function checkPackageName(name: string): PackageNameCheck {
  const problems: string[] = [];
  if (name.length === 0) problems.push('must not be empty');
  if (name.length > MAX_LENGTH) problems.push(`must be at most ${MAX_LENGTH} characters (it has ${name.length})`);
  if (name.trim() !== name) problems.push('must not start or end with spaces');
  if (/^[._]/.test(name)) problems.push('must not start with a dot or an underscore');
  if (name.toLowerCase() !== name) problems.push('must be lowercase');
  const scoped = /^@([^/]+)\/([^/]+)$/.exec(name);
  const parts = scoped ? [scoped[1], scoped[2]] : [name];
  if (name.length > 0 && !parts.every(urlSafe)) {
    problems.push("may only contain URL-safe characters (letters, digits, '-', '.', '_'; one '@scope/' prefix)");
  }
  if (scoped && /^[._]/.test(scoped[2])) problems.push('must not start with a dot or an underscore after the scope');
  if (RESERVED.has(name)) problems.push('is a reserved name');
  if (BUILTINS.has(name)) problems.push(`is the name of a Node.js core module`);
  return { valid: problems.length === 0, problems, suggestion: problems.length === 0 ? name : suggestPackageName(name) };
}

/**
 * Turns any text (typically a folder name like `My Engine!`) into a valid package name (`my-engine`).
 * Falls back to `my-engine` when nothing usable is left.
 */
export function suggestPackageName(raw: string): string {
  const scoped = /^@([^/]+)\/(.+)$/.exec(raw.trim());
  const clean = (s: string) =>
    s
      .trim()
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/-{2,}/g, '-')
      .replace(/^[._-]+/, '')
      .replace(/-+$/, '');
  let name: string;
  if (scoped) {
    const scope = clean(scoped[1]);
    const base = clean(scoped[2]) || 'engine';
    name = scope ? `@${scope}/${base}` : base;
  } else {
    name = clean(raw) || 'my-engine';
  }
  if (name.length > MAX_LENGTH) name = name.slice(0, MAX_LENGTH).replace(/[._-]+$/, '');
  if (RESERVED.has(name) || BUILTINS.has(name)) name = `${name}-engine`;
  return name;
}
