/**
 * Writes a new engine project: template copy, package name, dependency, `.env` with a fresh secret.
 * Everything is first written into a staging folder beside the target and then moved into place, so a
 * failure never leaves a half-written project. With `--force` into an existing folder, no file already there is
 * replaced: `package.json` gets only what is missing (the dependency, scripts), `.gitignore` only the lines it
 * lacks, every other file is kept as it is; on failure only the files this run created are removed.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, cp, lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { CliError, UsageError } from '../util/errors.js';
import { checkPackageName } from './package-name.js';
import { TEMPLATES_ROOT } from './package-root.js';
import { renamed, TEMPLATE_NAMES, templateFiles, type TemplateName } from './templates.js';

export interface ScaffoldOptions {
  template: TemplateName | string;
  /** The project folder (created when missing). */
  targetDir: string;
  packageName: string;
  /** The npm spec for the `polyswarm-engine` dependency (see `engineDependency`). */
  dependency: string;
  /** Write into a non-empty folder (files already there are kept; package.json and .gitignore get what they lack). */
  force?: boolean;
  /** The WEBHOOK_SECRET written to `.env` (default: 32 random bytes as hex). */
  secret?: string;
  /** Where templates live (tests point elsewhere). */
  templatesRoot?: string;
}

export interface ScaffoldResult {
  dir: string;
  /** Files written, relative to `dir`, sorted. */
  files: string[];
  /** Whether `.env` was written (false when --force kept an existing one). */
  wroteEnv: boolean;
  /** Template files that --force found already there and left as they were, relative to `dir`, sorted. */
  kept: string[];
  /** Files already there that got only what they lacked (`package.json`, `.gitignore`). */
  completed: string[];
}

/** A fresh webhook secret: 32 random bytes as 64 lowercase hex characters. */
export function generateSecret(): string {
  return randomBytes(32).toString('hex');
}

/** Entries that do not make a folder "non-empty" for `init` (a freshly cloned empty repo has `.git`). */
const IGNORED_ENTRIES = new Set(['.git', '.DS_Store', 'Thumbs.db']);

/** Lists what is in `dir` that `init` would count as content; null when `dir` does not exist. */
export async function existingContent(dir: string): Promise<string[] | null> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') throw new UsageError(`${dir} exists and is a file, not a folder`);
    throw fsError(error, dir);
  }
  return entries.filter((e) => !IGNORED_ENTRIES.has(e));
}

/** Maps a file-system error to a message a person can act on. */
function fsError(error: unknown, path: string): CliError {
  const code = (error as NodeJS.ErrnoException).code;
  const where = (error as NodeJS.ErrnoException).path ?? path;
  if (code === 'EACCES' || code === 'EPERM') {
    return new UsageError(`cannot write to ${where}: permission denied`, {
      hint: 'Pick a folder you can write to, or fix its permissions.',
      cause: error,
    });
  }
  if (code === 'EROFS') {
    return new UsageError(`cannot write to ${where}: read-only file system`, { hint: 'Pick a folder on a writable disk.', cause: error });
  }
  if (code === 'ENOSPC') return new CliError(`cannot write to ${where}: no space left on the device`, { cause: error });
  return new CliError(`cannot write the project to ${where}: ${(error as Error).message}`, { cause: error });
}

/**
 * The `.env` text: the template's `.env.example` with the secret filled in, under its own header (the
 * example's opening "Copy to .env and fill in." paragraph is for the example, not for the copy).
 */
export function envFromExample(example: string, secret: string): string {
  let filled = false;
  let body = example;
  if (/^# Copy to \.env\b/.test(body)) {
    const end = body.search(/\n[ \t]*(?:\n|$)/);
    body = end < 0 ? '' : body.slice(end + 1).replace(/^\n/, '');
  }
  const lines = body.split('\n').map((line) => {
    if (/^\s*WEBHOOK_SECRET\s*=/.test(line)) {
      filled = true;
      return `WEBHOOK_SECRET=${secret}`;
    }
    return line;
  });
  const text = lines.join('\n');
  const header =
    '# Written by polyswarm-engine. Keep this file out of git (.gitignore does): it holds your secret.\n' +
    '# `polyswarm-engine serve` and `start` read it; variables already set in the environment win.\n\n';
  return header + (filled ? text : `${text.replace(/\n*$/, '\n')}WEBHOOK_SECRET=${secret}\n`);
}

/**
 * An existing `.env` text with `secret` as its WEBHOOK_SECRET when it has none (an empty `WEBHOOK_SECRET=` line is
 * filled in place, a missing one appended), or null when it already has one: a secret is never replaced.
 */
export function envWithSecret(existing: string, secret: string): string | null {
  if ((parseEnv(existing) as Record<string, string>).WEBHOOK_SECRET) return null;
  const empty = /^[ \t]*WEBHOOK_SECRET[ \t]*=[ \t]*$/m;
  if (empty.test(existing)) return existing.replace(empty, `WEBHOOK_SECRET=${secret}`);
  return `${existing === '' ? '' : existing.replace(/\n*$/, '\n')}WEBHOOK_SECRET=${secret}\n`;
}

/** Copies a template folder into `dest`, applying the dotfile renames at every level. */
async function copyTemplate(src: string, dest: string): Promise<void> {
  for (const entry of await readdir(src, { withFileTypes: true })) {
    const from = join(src, entry.name);
    const to = join(dest, renamed(entry.name));
    if (entry.isDirectory()) {
      await mkdir(to, { recursive: true });
      await copyTemplate(from, to);
    } else {
      await cp(from, to);
    }
  }
}

/** Sets the package name and the polyswarm-engine dependency, through JSON (no templating). */
async function editPackageJson(dir: string, name: string, dependency: string): Promise<void> {
  const file = join(dir, 'package.json');
  const pkg = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown> & { dependencies?: Record<string, string> };
  pkg.name = name;
  pkg.dependencies = { ...pkg.dependencies, 'polyswarm-engine': dependency };
  await writeFile(file, `${JSON.stringify(pkg, null, 2)}\n`);
}

/** The README's first line is the template's placeholder title; give it the project's name. */
async function retitleReadme(dir: string, name: string): Promise<void> {
  const file = join(dir, 'README.md');
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text?.startsWith('# my-engine\n')) await writeFile(file, `# ${name}\n${text.slice('# my-engine\n'.length)}`);
}

const exists = (path: string) => lstat(path).then(Boolean, () => false);

interface MergeRecord {
  /** Absolute paths this run created (undone on failure). */
  created: string[];
  kept: string[];
  completed: string[];
}

/** Adds the template's dependencies and scripts that an existing package.json lacks; changes nothing it has. */
export function completePackageJson(existing: Record<string, unknown>, template: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...existing };
  for (const key of ['scripts', 'dependencies', 'devDependencies']) {
    const theirs = (existing[key] ?? {}) as Record<string, string>;
    const ours = (template[key] ?? {}) as Record<string, string>;
    const added = Object.fromEntries(Object.entries(ours).filter(([name]) => !(name in theirs)));
    if (Object.keys(added).length > 0) out[key] = { ...theirs, ...added };
  }
  for (const key of ['type', 'engines']) if (!(key in existing) && key in template) out[key] = template[key];
  return out;
}

/** Appends the template's .gitignore lines that an existing one lacks (`.env` above all). */
export function completeGitignore(existing: string, template: string): string {
  const have = new Set(existing.split('\n').map((l) => l.trim()));
  const missing = template.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#') && !have.has(l.trim()));
  if (missing.length === 0) return existing;
  return `${existing.replace(/\n*$/, '\n')}\n# Added by polyswarm-engine init\n${missing.join('\n')}\n`;
}

/**
 * Moves the staged tree into an existing folder: new entries are renamed in whole, folders present on both
 * sides are merged, files already there are never replaced (package.json and .gitignore are completed). Records
 * what it created so a failure can undo exactly that.
 */
async function mergeInto(staged: string, target: string, record: MergeRecord, rel = ''): Promise<void> {
  for (const entry of await readdir(staged, { withFileTypes: true })) {
    const from = join(staged, entry.name);
    const to = join(target, entry.name);
    const relPath = rel + entry.name;
    if (!(await exists(to))) {
      await rename(from, to);
      record.created.push(to);
    } else if (entry.isDirectory() && (await stat(to)).isDirectory()) {
      await mergeInto(from, to, record, `${relPath}/`);
    } else {
      const complete = COMPLETERS[relPath];
      const before = complete ? await readFile(to, 'utf8') : '';
      const after = complete ? complete(before, await readFile(from, 'utf8'), to) : null;
      if (after === null || after === before) record.kept.push(relPath);
      else {
        await writeFile(to, after);
        record.completed.push(relPath);
      }
    }
  }
}

/** How a file that --force finds already there gets what it lacks from ours (null: kept as it is). */
const COMPLETERS: Partial<Record<string, (existing: string, ours: string, file: string) => string | null>> = {
  // Never replace a secret; give a .env without one the secret this run generated.
  '.env': (existing, ours) => {
    const secret = /^WEBHOOK_SECRET=(.+)$/m.exec(ours)?.[1];
    return secret ? envWithSecret(existing, secret) : null;
  },
  '.gitignore': completeGitignore,
  'package.json': completedPackageJson,
};

/** package.json text with what the template's adds (see completePackageJson), or `before` itself when nothing is. */
function completedPackageJson(before: string, ours: string, file: string): string {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(before) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON (${(error as Error).message}); init --force only adds to a package.json it can read`, {
      hint: 'Fix it, or init into an empty folder.',
    });
  }
  const after = `${JSON.stringify(completePackageJson(parsed, JSON.parse(ours) as Record<string, unknown>), null, 2)}\n`;
  return after === `${JSON.stringify(parsed, null, 2)}\n` ? before : after;
}

/** The template named `value`; a UsageError listing the templates otherwise. */
export function validTemplate(value: string): TemplateName {
  if (!(TEMPLATE_NAMES as readonly string[]).includes(value)) {
    throw new UsageError(`unknown template "${value}"`, { hint: `Choose one of: ${TEMPLATE_NAMES.join(', ')}.` });
  }
  return value as TemplateName;
}

/** A UsageError saying which of npm's rules `name` breaks, with a name that works, unless it is valid. */
export function assertValidName(name: string): void {
  const check = checkPackageName(name);
  if (!check.valid) {
    throw new UsageError(`"${name}" is not a valid npm package name: it ${check.problems.join('; it ')}`, {
      hint: `Try --name ${check.suggestion}`,
    });
  }
}

/**
 * Scaffolds `options.template` into `options.targetDir`. Throws a UsageError (exit 2) for an unknown
 * template, an invalid package name, a non-empty folder without `force`, or a folder it cannot write to;
 * in every failure case nothing it wrote is left behind.
 */
export async function scaffoldProject(options: ScaffoldOptions): Promise<ScaffoldResult> {
  const template = validTemplate(options.template);
  assertValidName(options.packageName);
  const target = resolve(options.targetDir);
  const source = join(options.templatesRoot ?? TEMPLATES_ROOT, template);
  try {
    await access(source, constants.R_OK);
  } catch {
    throw new CliError(`template "${template}" is missing from this installation (${source})`, {
      hint: 'Reinstall polyswarm-engine.',
    });
  }

  const content = await existingContent(target);
  if (content && content.length > 0 && !options.force) {
    const shown = content.slice(0, 5).join(', ') + (content.length > 5 ? `, … (${content.length} entries)` : '');
    throw new UsageError(`${target} is not empty (${shown}); refusing to overwrite it`, {
      hint: 'Pick another folder, or pass --force to add the project to it (files already there are kept, nothing is deleted).',
    });
  }
  if (content) {
    // The folder exists: make sure we may write into it before staging anything beside it.
    try {
      await access(target, constants.W_OK);
    } catch (error) {
      throw fsError(error, target);
    }
  }

  // Stage on the same file system, so the final step is a rename, never a copy: beside a new target, or
  // inside an existing one (whose parent may well be unwritable, as with `init .` in a home folder).
  const parent = dirname(target);
  const stagingParent = content === null ? parent : target;
  let createdParent: string | null = null;
  let staging: string;
  try {
    if (!(await exists(parent))) createdParent = (await mkdir(parent, { recursive: true })) ?? null;
    // mkdir, not mkdtemp (0700): the folder becomes the project, so it gets the mode the umask gives.
    staging = join(stagingParent, `.${basename(target)}.polyswarm-init-${randomBytes(4).toString('hex')}`);
    await mkdir(staging);
  } catch (error) {
    if (createdParent) await rm(createdParent, { recursive: true, force: true });
    throw fsError(error, stagingParent);
  }

  const record: MergeRecord = { created: [], kept: [], completed: [] };
  let moved = false;
  try {
    await copyTemplate(source, staging);
    await editPackageJson(staging, options.packageName, options.dependency);
    await retitleReadme(staging, options.packageName);
    const example = await readFile(join(staging, '.env.example'), 'utf8').catch(() => '');
    await writeFile(join(staging, '.env'), envFromExample(example, options.secret ?? generateSecret()), { mode: 0o600 });
    const files = [...new Set([...templateFiles(template, options.templatesRoot), '.env'])].sort();

    if (content === null) await rename(staging, target);
    else {
      await mergeInto(staging, target, record);
      await rm(staging, { recursive: true, force: true });
    }
    moved = true;
    const kept = record.kept.sort();
    return {
      dir: target,
      files: files.filter((f) => !kept.includes(f)),
      wroteEnv: !kept.includes('.env'),
      kept,
      completed: record.completed.sort(),
    };
  } catch (error) {
    if (moved) throw error;
    for (const path of record.created.reverse()) await rm(path, { recursive: true, force: true });
    await rm(staging, { recursive: true, force: true });
    if (createdParent) await rm(createdParent, { recursive: true, force: true });
    if (error instanceof CliError) throw error;
    throw fsError(error, target);
  }
}

/** `dir` relative to the current folder for messages (`my-engine`, or the absolute path when outside). */
export function displayPath(dir: string, cwd: string = process.cwd()): string {
  const rel = relative(cwd, dir);
  if (rel === '') return '.';
  return rel.startsWith('..') ? dir : rel;
}
