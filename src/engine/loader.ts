/**
 * Loading the author's scan module (`src/scan.ts`, `.mts`, `.js` or `.mjs`) without a build step, fresh on every
 * reload, with errors a person can act on: `src/scan.ts:12:5: SyntaxError: …`, never a stack into node_modules.
 *
 * TypeScript goes through jiti (a fresh load: a new instance, its module cache off). Plain ES modules are imported
 * natively (Node's module cache cannot be cleared): a fresh load imports them as `?pse-gen=N`, and a resolve hook
 * passes that on to the project files they import. Packages are always the process's single copy.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Jiti } from 'jiti';
import { EngineError } from './errors.js';
import { findSpecifier, sourceFrame } from './source-lines.js';
import type { ScanModule } from './types.js';

export interface LoadScanModuleOptions {
  /** Read the module and the project files it imports again, even if loaded before (hot reload). Default false. */
  fresh?: boolean;
  /** The project folder: paths in messages are shown relative to it. Default: the folder above `src/`. */
  root?: string;
  /** The file that just changed (hot reload): looked at first when a syntax error must be located. */
  changed?: string;
}

export interface SourceLocation {
  /** Absolute path. */
  file: string;
  line?: number;
  column?: number;
}

/** The scan module could not be loaded or does not have the right shape (SCAN_MODULE_INVALID): exit 2 at startup. */
export class ScanModuleError extends EngineError {
  /** What to change in the module, in words (no flags). */
  readonly hint?: string;
  /** The line at `location`, its column marked, when known: for a terminal. */
  readonly frame: string | undefined;
  constructor(
    /** The scan module (absolute path). */
    readonly file: string,
    /** Where the problem is, as precisely as known. */
    readonly location: SourceLocation,
    /** `src/scan.ts:12:5` (relative to the project), for log lines. */
    readonly where: string,
    /** The error text without the location, e.g. `SyntaxError: Unexpected token`. */
    readonly reason: string,
    options: { hint?: string; frame?: string; cause?: unknown },
  ) {
    super('SCAN_MODULE_INVALID', `${where}: ${reason}${options.frame ? `\n${options.frame}` : ''}`, { file, where, reason }, options);
    this.hint = options.hint;
    this.frame = options.frame;
  }
}

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx']);
const SOURCE_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];
const GEN_PARAM = 'pse-gen';
const ROOT_PARAM = 'pse-root';

/**
 * Passes `?pse-gen&pse-root` from an importing project file to the project files it imports (not to packages), so
 * a fresh native load re-evaluates the whole project graph. Stateless, so one registration serves every project.
 */
const FRESHNESS_HOOK = `
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  const parent = context.parentURL;
  if (!parent || !parent.startsWith('file:') || !result.url.startsWith('file:')) return result;
  const from = new URL(parent);
  const gen = from.searchParams.get(${JSON.stringify(GEN_PARAM)});
  const root = from.searchParams.get(${JSON.stringify(ROOT_PARAM)});
  if (gen === null || root === null) return result;
  const url = new URL(result.url);
  if (!url.pathname.startsWith(root) || url.pathname.includes('/node_modules/')) return result;
  url.searchParams.set(${JSON.stringify(GEN_PARAM)}, gen);
  url.searchParams.set(${JSON.stringify(ROOT_PARAM)}, root);
  return { ...result, url: url.href };
}
`;

let hookRegistered = false;
let generation = 0;
let sharedJiti: Jiti | undefined;
let importer: Promise<(url: string) => Promise<Record<string, unknown>>> | undefined;

/**
 * `import()` performed by a tiny module of its own, so that it is Node's loader (and its resolve hook) that runs
 * it even when this file was rewritten by a test runner or bundler that replaces `import()` with its own.
 */
function nativeImport(url: string): Promise<Record<string, unknown>> {
  const source = 'data:text/javascript,export default (url) => import(url)';
  importer ??= (import(source) as Promise<{ default: (url: string) => Promise<Record<string, unknown>> }>).then((m) => m.default);
  return importer.then((load) => load(url));
}

/**
 * jiti is imported on first use: `import 'polyswarm-engine'` in an engine project should not pay for it. Its
 * transpiled output is cached in the project's `node_modules/.cache/polyswarm-engine` (where build tools keep
 * theirs; never committed), keyed by the source's hash, so a start does not load Babel for an unchanged file
 * (about half a second of CPU). No node_modules, or one jiti cannot write (a read-only image): no cache.
 */
async function jitiFor(fresh: boolean, cache: string | false = false): Promise<Jiti> {
  const { createJiti } = await import('jiti');
  if (fresh) return createJiti(import.meta.url, { moduleCache: false, fsCache: cache, interopDefault: true });
  sharedJiti ??= createJiti(import.meta.url, { moduleCache: true, fsCache: cache, interopDefault: true });
  return sharedJiti;
}

/** Caches that failed (a full disk, a damaged entry): this process transpiles without them from then on. */
const failedCaches = new Set<string>();
const CACHE_FAULTS = new Set(['EISDIR', 'ENOTDIR', 'ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'EIO']);

async function importTypeScript(file: string, root: string, fresh: boolean): Promise<Record<string, unknown>> {
  const modules = join(root, 'node_modules');
  const dir = join(modules, '.cache', 'polyswarm-engine');
  const cache = existsSync(modules) && !failedCaches.has(dir) && dir;
  try {
    return (await (await jitiFor(fresh, cache)).import(file)) as Record<string, unknown>;
  } catch (error) {
    // The cache is a speed-up, never a reason to fail a load: after a file-system fault, load again without it (jiti's
    // errors do not name the path; a fault of the module's own code recurs and is thrown from the second load).
    if (!cache || !CACHE_FAULTS.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    failedCaches.add(cache);
    sharedJiti = undefined;
    return (await (await jitiFor(fresh)).import(file)) as Record<string, unknown>;
  }
}

/** Drops the project's CommonJS and JSON files from Node's require cache (jiti and `import` of CJS share it). */
function forgetRequireCache(root: string): void {
  const cache = createRequire(import.meta.url).cache;
  const prefix = root.endsWith(sep) ? root : root + sep;
  for (const key of Object.keys(cache)) {
    if (key.startsWith(prefix) && !key.includes(`${sep}node_modules${sep}`)) delete cache[key];
  }
}

function defaultRoot(file: string): string {
  const dir = dirname(file);
  return basename(dir) === 'src' ? dirname(dir) : dir;
}

async function importModule(file: string, root: string, fresh: boolean): Promise<Record<string, unknown>> {
  if (fresh) forgetRequireCache(root);
  if (TS_EXTENSIONS.has(extname(file))) {
    return importTypeScript(file, root, fresh);
  }
  const url = pathToFileURL(file);
  if (fresh) {
    if (!hookRegistered) {
      register(`data:text/javascript,${encodeURIComponent(FRESHNESS_HOOK)}`);
      hookRegistered = true;
    }
    url.searchParams.set(GEN_PARAM, String(++generation));
    url.searchParams.set(ROOT_PARAM, pathToFileURL(root + sep).pathname);
  }
  return nativeImport(url.href);
}

/**
 * Loads an engine project's scan module: named exports `scan` (and optionally `computeBid`), or a default export
 * `{ scan, computeBid }`. With `fresh`, edits of the module and the project files it imports are picked up.
 * Throws a {@link ScanModuleError} naming the file, line and column of a syntax or import error, listing what the
 * module exports when `scan` is missing, or saying that `computeBid` is not a function.
 */
export async function loadScanModule(file: string, options: LoadScanModuleOptions = {}): Promise<ScanModule> {
  const entry = resolve(file);
  const root = resolve(options.root ?? defaultRoot(entry));
  let namespace: Record<string, unknown>;
  try {
    namespace = await importModule(entry, root, options.fresh ?? false);
  } catch (error) {
    throw await describeLoadError(error, { entry, root, changed: options.changed });
  }
  return pickScanModule(namespace, entry, root);
}

function display(root: string, file: string): string {
  const rel = relative(root, file);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? file : rel.split(sep).join('/');
}

function describeExports(source: Record<string, unknown>): string {
  const own = Object.keys(source).filter((key) => key !== '__esModule');
  const names = new Set<string>(own);
  const fallback = source.default;
  // jiti's interop may present the namespace itself as `default`: list only what a real default export adds.
  if (fallback && typeof fallback === 'object') {
    for (const key of Object.keys(fallback)) if (!own.includes(key)) names.add(`default.${key}`);
  }
  if (names.size === 0) return 'it exports nothing';
  const kinds = [...names].sort().map((name) => {
    const value = name.startsWith('default.') ? (fallback as Record<string, unknown>)[name.slice(8)] : source[name];
    return `${name} (${value === null ? 'null' : typeof value})`;
  });
  return `it exports: ${kinds.join(', ')}`;
}

function pickScanModule(namespace: Record<string, unknown>, entry: string, root: string): ScanModule {
  const fallback = namespace.default as Record<string, unknown> | undefined;
  const source =
    typeof namespace.scan === 'function'
      ? namespace
      : fallback && (typeof fallback === 'object' || typeof fallback === 'function') && typeof fallback.scan === 'function'
        ? fallback
        : undefined;
  const where = display(root, entry);
  const location = { file: entry };
  if (!source) {
    const what =
      'scan' in namespace ? `its \`scan\` export is ${typeof namespace.scan}, not a function` : 'it does not export a `scan` function';
    throw new ScanModuleError(entry, location, where, `${what} (${describeExports(namespace)})`, {
      hint: 'Export it: `export async function scan(bounty, ctx) { … }`, or `export default { scan }`.',
    });
  }
  const computeBid = source.computeBid;
  if (computeBid !== undefined && typeof computeBid !== 'function') {
    const what = computeBid === null ? 'null' : typeof computeBid;
    throw new ScanModuleError(entry, location, where, `\`computeBid\` is exported but is ${what}, not a function`, {
      hint: 'Export `function computeBid(bounty, result)` returning the bid in wei, or remove it to use the default bid.',
    });
  }
  const scan = source.scan as ScanModule['scan'];
  return computeBid === undefined ? { scan } : { scan, computeBid: computeBid as ScanModule['computeBid'] };
}

interface ErrorContext {
  entry: string;
  root: string;
  changed?: string;
}

function toPath(fileOrUrl: string): string {
  if (!fileOrUrl.startsWith('file:')) return fileOrUrl;
  const url = new URL(fileOrUrl);
  url.search = '';
  return fileURLToPath(url);
}

function isProjectFile(root: string, file: string): boolean {
  const rel = relative(root, file);
  return !rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('node_modules');
}

/** Ways the author may have written an import of `target` from `importer` (`./x.js`, `./x.ts`, `./x`). */
function specifiersFor(importer: string, target: string): string[] {
  let rel = relative(dirname(importer), target).split(sep).join('/');
  if (!rel.startsWith('.')) rel = `./${rel}`;
  const bare = rel.slice(0, rel.length - extname(rel).length);
  return [rel, bare, ...SOURCE_EXTENSIONS.map((e) => bare + e)];
}

/** The JITI_ERROR a babel parse of `file` reports, if any. */
async function parseErrorIn(file: string): Promise<{ line: number; column: number; message: string } | undefined> {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const out = (await jitiFor(true)).transform({ source, filename: file, ts: TS_EXTENSIONS.has(extname(file)), async: true });
  const match = /__JITI_ERROR__ = (\{.*\})/.exec(out);
  if (!match) return undefined;
  const info = JSON.parse(match[1]!) as { line?: number; column?: number; message?: string };
  return { line: info.line ?? 1, column: info.column ?? 0, message: (info.message ?? 'syntax error').trim() };
}

/** Project source files, the changed one and the entry first: where a location-less SyntaxError may come from. */
function syntaxSuspects(ctx: ErrorContext): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 4 || found.length > 200) return;
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path, depth + 1);
      else if (SOURCE_EXTENSIONS.includes(extname(entry.name))) found.push(path);
    }
  };
  walk(dirname(ctx.entry), 0);
  return [...new Set([...(ctx.changed ? [resolve(ctx.changed)] : []), ctx.entry, ...found])];
}

/** `error.location` when it is `{ file, line, column? }` (file absolute or relative to the project), else undefined. */
function statedLocation(error: unknown, root: string): SourceLocation | undefined {
  const at = (error as { location?: { file?: unknown; line?: unknown; column?: unknown } } | null)?.location;
  if (!at || typeof at !== 'object' || typeof at.file !== 'string' || at.file === '') return undefined;
  const line = Number.isInteger(at.line) && (at.line as number) > 0 ? (at.line as number) : undefined;
  const column = line && Number.isInteger(at.column) && (at.column as number) > 0 ? (at.column as number) : undefined;
  return { file: resolve(root, toPath(at.file)), line, column };
}

const LOCATION_HINT = 'Fix it and save (serve reloads), or run the command again.';

/** Turns anything thrown while importing the module into a ScanModuleError with the best location we can find. */
async function describeLoadError(error: unknown, ctx: ErrorContext): Promise<ScanModuleError> {
  const e = (error ?? {}) as { name?: string; message?: string; stack?: string; code?: string };
  const message = typeof e.message === 'string' ? e.message : String(error);
  const make = (location: SourceLocation, reason: string) => {
    const where =
      display(ctx.root, location.file) +
      (location.line !== undefined ? `:${location.line}${location.column !== undefined ? `:${location.column}` : ''}` : '');
    return new ScanModuleError(ctx.entry, location, where, reason, { hint: LOCATION_HINT, frame: sourceFrame(location), cause: error });
  };
  const relativise = (text: string) => text.split(ctx.root + sep).join('');
  if (!existsSync(ctx.entry)) return make({ file: ctx.entry }, 'the scan module does not exist (was it deleted or renamed?)');

  // An error that says where it is (a YARA rule's compile error, esbuild's errors): shown at that place, in that file.
  const stated = statedLocation(error, ctx.root);
  if (stated) return make(stated, `${e.name ?? 'Error'}: ${relativise(message)}`);

  // jiti (babel) parse error: "ParseError: <text>\n /abs/file.ts:2:24"
  const parse = /^(?:ParseError: )?([\s\S]*?)\s*\n\s*(\S[^\n]*?):(\d+):(\d+)\s*$/.exec(message);
  if (parse && message.includes('ParseError')) {
    return make({ file: toPath(parse[2]!), line: Number(parse[3]), column: Number(parse[4]) + 1 }, `SyntaxError: ${parse[1]!.trim()}`);
  }

  // CommonJS-style resolution failure (jiti): "Cannot find module 'x'\nRequire stack:\n- /abs/importer.ts"
  const cjs = /^Cannot find module '([^']+)'\s*\nRequire stack:\n- ([^\n]+)/.exec(message);
  if (e.code === 'MODULE_NOT_FOUND' && cjs) {
    const importer = cjs[2]!.trim();
    if (!isProjectFile(ctx.root, importer)) return make({ file: ctx.entry }, `Cannot find module '${relativise(cjs[1]!)}'`);
    const at = findSpecifier(importer, [cjs[1]!]);
    return make({ file: importer, ...at }, `Cannot find module '${cjs[1]}'`);
  }

  // ESM resolution failure: "Cannot find module '/abs/x.js' imported from /abs/importer.js" (or "package 'x'")
  const esm = /^Cannot find (module|package) '([^']+)' imported from (.+)$/.exec(message.split('\n')[0]!);
  if (e.code === 'ERR_MODULE_NOT_FOUND' && esm) {
    const importer = esm[3]!.startsWith('data:') ? ctx.entry : toPath(esm[3]!.trim());
    const target = esm[2]!;
    const candidates = esm[1] === 'package' || !isAbsolute(target) ? [target] : specifiersFor(importer, target);
    for (const candidate of candidates) {
      const at = findSpecifier(importer, [candidate]);
      if (at) return make({ file: importer, ...at }, `Cannot find ${esm[1]} '${candidate}'`);
    }
    return make({ file: importer }, `Cannot find ${esm[1]} '${relativise(target)}'`);
  }

  // Native ESM link error: the stack starts with "file:///abs/x.js?…:1\n<code>\n   ^^^^\nSyntaxError: …"
  const link = /^(file:\/\/[^\n]*?):(\d+)\n([^\n]*)\n( *)\^/.exec(e.stack ?? '');
  if (link) {
    return make({ file: toPath(link[1]!), line: Number(link[2]), column: link[4]!.length + 1 }, `${e.name ?? 'Error'}: ${message}`);
  }

  // A native parse error carries no location at all: parse the project's files with babel to find it.
  if (e.name === 'SyntaxError') {
    for (const file of syntaxSuspects(ctx)) {
      const found = await parseErrorIn(file);
      if (found) return make({ file, line: found.line, column: found.column + 1 }, `SyntaxError: ${found.message}`);
    }
  }

  // Thrown while the module ran: the first stack frame in a project file (not in node_modules) is the place.
  for (const line of (e.stack ?? '').split('\n').slice(1)) {
    const frame = /(?:\(|\s)((?:file:\/\/)?\/[^\s()]*?):(\d+):(\d+)\)?\s*$/.exec(line);
    if (!frame) continue;
    const file = toPath(frame[1]!);
    if (isProjectFile(ctx.root, file)) {
      return make({ file, line: Number(frame[2]), column: Number(frame[3]) }, `${e.name ?? 'Error'}: ${relativise(message)}`);
    }
  }
  return make({ file: ctx.entry }, `${e.name ?? 'Error'}: ${relativise(message)}`);
}
