import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadScanModule, ScanModuleError } from '../../../src/engine/loader.js';
import type { Bounty, ScanContext } from '../../../src/engine/types.js';
import { toCliError } from '../../../src/runtime/engine-errors.js';
import { type CliError, ExitCode } from '../../../src/util/errors.js';

const base = mkdtempSync(join(tmpdir(), 'pse-loader-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

let count = 0;
/** A fresh project folder with the given files (paths relative to the project). */
function project(files: Record<string, string>, type: 'module' | 'commonjs' = 'module'): string {
  const dir = join(base, `p${++count}`);
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `p${count}`, type }));
  for (const [name, content] of Object.entries(files)) write(dir, name, content);
  return dir;
}
function write(dir: string, name: string, content: string): void {
  mkdirSync(dirname(join(dir, name)), { recursive: true });
  writeFileSync(join(dir, name), content);
}

const bounty = {} as Bounty;
const ctx = {} as ScanContext;

async function loadError(file: string, options = {}): Promise<ScanModuleError> {
  const error = await loadScanModule(file, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ScanModuleError);
  expect((error as ScanModuleError).code).toBe('SCAN_MODULE_INVALID');
  // The runtime turns it into a usage error (exit 2) that keeps the loader's hint.
  const mapped = toCliError(error) as CliError;
  expect(mapped.exitCode).toBe(ExitCode.USAGE);
  expect(mapped.hint).toBe((error as ScanModuleError).hint);
  return error as ScanModuleError;
}

describe('loadScanModule: shapes', () => {
  it('named exports scan and computeBid from TypeScript (types stripped, no build step)', async () => {
    const dir = project({
      'src/scan.ts': [
        "import type { Bounty } from './types.js';",
        "const verdict: 'benign' = 'benign';",
        'export async function scan(_b: Bounty) { return { verdict }; }',
        'export function computeBid(): bigint { return 42n; }',
      ].join('\n'),
      'src/types.ts': 'export interface Bounty { id: string }',
    });
    const mod = await loadScanModule(join(dir, 'src/scan.ts'));
    expect(await mod.scan(bounty, ctx)).toEqual({ verdict: 'benign' });
    expect(await mod.computeBid!(bounty, { verdict: 'benign' })).toBe(42n);
  });

  it('a default export object { scan, computeBid }, in TypeScript and in a plain .mjs', async () => {
    const body = "export default { scan: () => ({ verdict: 'malicious' }), computeBid: () => 7 };";
    const dir = project({ 'src/scan.ts': body, 'src/scan.mjs': body });
    for (const file of ['src/scan.ts', 'src/scan.mjs']) {
      const mod = await loadScanModule(join(dir, file), { fresh: true });
      expect(await mod.scan(bounty, ctx), file).toEqual({ verdict: 'malicious' });
      expect(await mod.computeBid!(bounty, { verdict: 'malicious' }), file).toBe(7);
    }
  });

  it('without computeBid the module has none (the engine uses the default bid)', async () => {
    const dir = project({ 'src/scan.js': "export const scan = () => ({ verdict: 'unknown' });" });
    const mod = await loadScanModule(join(dir, 'src/scan.js'));
    expect(Object.keys(mod)).toEqual(['scan']);
  });

  it('no scan export: says so and lists what the module does export', async () => {
    const dir = project({ 'src/scan.ts': "export function scna() {}\nexport const VERSION = '1';\nexport default { other: 1 };" });
    const error = await loadError(join(dir, 'src/scan.ts'));
    expect(error.message).toBe(
      'src/scan.ts: it does not export a `scan` function (it exports: VERSION (string), default (object), default.other (number), scna (function))',
    );
    expect(error.hint).toContain('export async function scan(bounty, ctx)');
  });

  it('a module that exports nothing, and a scan that is not a function', async () => {
    const dir = project({ 'src/scan.mjs': '', 'src/scan.ts': "export const scan = { verdict: 'benign' };" });
    expect((await loadError(join(dir, 'src/scan.mjs'))).message).toBe(
      'src/scan.mjs: it does not export a `scan` function (it exports nothing)',
    );
    expect((await loadError(join(dir, 'src/scan.ts'))).message).toBe(
      'src/scan.ts: its `scan` export is object, not a function (it exports: scan (object))',
    );
  });

  it('computeBid present but not a function', async () => {
    const dir = project({ 'src/scan.ts': "export const scan = () => ({ verdict: 'benign' });\nexport const computeBid = 10n;" });
    const error = await loadError(join(dir, 'src/scan.ts'));
    expect(error.message).toBe('src/scan.ts: `computeBid` is exported but is bigint, not a function');
    expect(error.hint).toContain('remove it to use the default bid');
  });
});

describe('loadScanModule: errors point at file:line:column', () => {
  it('a TypeScript syntax error: src/scan.ts:line:column, the parser message and the line with a caret', async () => {
    const dir = project({ 'src/scan.ts': 'export function scan() {\n  return { verdict: "x" ;\n}\n' });
    const error = await loadError(join(dir, 'src/scan.ts'));
    expect(error.where).toBe('src/scan.ts:2:25');
    expect(error.reason).toBe('SyntaxError: Unexpected token, expected ","');
    expect(error.message).toBe(
      [
        'src/scan.ts:2:25: SyntaxError: Unexpected token, expected ","',
        '  2 |   return { verdict: "x" ;',
        '    |                         ^',
      ].join('\n'),
    );
    expect(error.message).not.toContain('node_modules');
  });

  it('a JavaScript syntax error (Node gives no location; we find it)', async () => {
    const dir = project({ 'src/scan.js': "// a comment\nexport const scan = () => ({ verdict: 'x' )};\n" });
    const error = await loadError(join(dir, 'src/scan.js'), { fresh: true });
    expect(error.where).toBe('src/scan.js:2:43');
    expect(error.reason).toMatch(/^SyntaxError: Unexpected token/);
  });

  it('a syntax error in a helper that scan.js imports is reported in the helper', async () => {
    const dir = project({
      'src/scan.js': "import { verdict } from './lib/verdict.js';\nexport const scan = () => ({ verdict });\n",
      'src/lib/verdict.js': "export const verdict = 'benign'\nexport const broken = ;\n",
    });
    const error = await loadError(join(dir, 'src/scan.js'), { fresh: true });
    expect(error.where).toBe('src/lib/verdict.js:2:23');
    expect(error.file).toBe(join(dir, 'src/scan.js'));
  });

  it('a syntax error in a TypeScript helper is reported in the helper', async () => {
    const dir = project({
      'src/scan.ts': "import { verdict } from './verdict.js';\nexport const scan = () => ({ verdict });\n",
      'src/verdict.ts': 'export const verdict: string = ;\n',
    });
    expect((await loadError(join(dir, 'src/scan.ts'))).where).toBe('src/verdict.ts:1:32');
  });

  it('importing a missing file or package: the import line in the importing file', async () => {
    const dir = project({
      'src/scan.ts':
        "import { ok } from './ok.js';\nimport { nope } from './missing.js';\nexport const scan = () => ({ verdict: nope ?? ok });\n",
      'src/ok.ts': 'export const ok = 1;',
      'src/scan.mjs': "\nimport { nope } from 'no-such-package-x';\nexport const scan = () => nope;\n",
      'src/scan.js': "import { nope } from './lib/missing.js';\nexport const scan = () => nope;\n",
    });
    const ts = await loadError(join(dir, 'src/scan.ts'));
    expect(ts.where).toBe('src/scan.ts:2:22');
    expect(ts.reason).toBe("Cannot find module './missing.js'");
    const mjs = await loadError(join(dir, 'src/scan.mjs'), { fresh: true });
    expect(mjs.where).toBe('src/scan.mjs:2:22');
    expect(mjs.reason).toBe("Cannot find package 'no-such-package-x'");
    const js = await loadError(join(dir, 'src/scan.js'), { fresh: true });
    expect(js.where).toBe('src/scan.js:1:22');
    expect(js.reason).toBe("Cannot find module './lib/missing.js'");
  });

  it('importing a name a JavaScript helper does not export', async () => {
    const dir = project({
      'src/scan.js': "import { verdict, nope } from './verdict.js';\nexport const scan = () => ({ verdict, nope });\n",
      'src/verdict.js': "export const verdict = 'benign';\n",
    });
    const error = await loadError(join(dir, 'src/scan.js'), { fresh: true });
    expect(error.where).toBe('src/scan.js:1:19');
    expect(error.reason).toContain("does not provide an export named 'nope'");
  });

  it('an exception thrown while the module runs: the throwing line, not a frame in node_modules', async () => {
    const dir = project({
      'src/scan.ts': "import { check } from './check.js';\ncheck();\nexport const scan = () => ({ verdict: 'benign' });\n",
      'src/check.ts':
        "export function check(): void {\n  const key: string | undefined = undefined;\n  if (!key) throw new Error('API_KEY is not set');\n}\n",
    });
    const error = await loadError(join(dir, 'src/scan.ts'));
    expect(error.where).toMatch(/^src\/check\.ts:3:\d+$/);
    expect(error.reason).toBe('Error: API_KEY is not set');
  });

  it('an error that states its location (`location: { file, line, column }`, a rule compiler’s): that place, in that file', async () => {
    const dir = project({
      'rules/a.yar': 'rule A {\n  condition:\n    nope\n}\n',
      'src/scan.ts': [
        "const error = Object.assign(new Error('unknown identifier `nope`'), { name: 'RuleCompileError' });",
        'const where = process.env.PSE_TEST_WHERE ?? "relative";',
        "const file = where === 'relative' ? 'rules/a.yar' : new URL('../rules/a.yar', import.meta.url).pathname;",
        'throw Object.assign(error, { location: { file, line: 3, column: 5 } });',
        'export const scan = () => ({ verdict: "benign" });',
        '',
      ].join('\n'),
    });
    for (const where of ['relative', 'absolute']) {
      process.env.PSE_TEST_WHERE = where;
      const error = await loadError(join(dir, 'src/scan.ts'), { fresh: true });
      expect(error.where, where).toBe('rules/a.yar:3:5');
      expect(error.location).toEqual({ file: join(dir, 'rules/a.yar'), line: 3, column: 5 });
      expect(error.reason).toBe('RuleCompileError: unknown identifier `nope`');
      expect(error.frame).toBe('  3 |     nope\n    |     ^');
      expect(error.message).toBe(`rules/a.yar:3:5: RuleCompileError: unknown identifier \`nope\`\n${error.frame}`);
    }
    delete process.env.PSE_TEST_WHERE;
  });
});

describe('loadScanModule: fresh loads', () => {
  it('pick up edits of scan.ts and of the TypeScript and JSON files it imports', async () => {
    const dir = project({
      'src/scan.ts':
        "import { verdict } from './verdict.js';\nimport rules from './rules.json';\nexport const scan = () => ({ verdict, tag: rules.tag });\n",
      'src/verdict.ts': "export const verdict = 'benign';\n",
      'src/rules.json': '{"tag":"a"}',
    });
    const file = join(dir, 'src/scan.ts');
    expect(await (await loadScanModule(file, { fresh: true })).scan(bounty, ctx)).toEqual({ verdict: 'benign', tag: 'a' });
    write(dir, 'src/verdict.ts', "export const verdict = 'malicious';\n");
    write(dir, 'src/rules.json', '{"tag":"b"}');
    expect(await (await loadScanModule(file, { fresh: true })).scan(bounty, ctx)).toEqual({ verdict: 'malicious', tag: 'b' });
    write(dir, 'src/scan.ts', "import { verdict } from './verdict.js';\nexport const scan = () => ({ verdict: verdict + '!' });\n");
    expect(await (await loadScanModule(file, { fresh: true })).scan(bounty, ctx)).toEqual({ verdict: 'malicious!' });
  });

  it('pick up edits of a plain ES module and of the helpers it imports (Node caches them otherwise)', async () => {
    const dir = project({
      'src/scan.js': "import { verdict } from './lib/verdict.js';\nexport const scan = () => ({ verdict });\n",
      'src/lib/verdict.js': "export const verdict = 'benign';\n",
    });
    const file = join(dir, 'src/scan.js');
    const cached = await loadScanModule(file);
    expect(await cached.scan(bounty, ctx)).toEqual({ verdict: 'benign' });
    write(dir, 'src/lib/verdict.js', "export const verdict = 'suspicious';\n");
    expect(await (await loadScanModule(file)).scan(bounty, ctx)).toEqual({ verdict: 'benign' });
    expect(await (await loadScanModule(file, { fresh: true })).scan(bounty, ctx)).toEqual({ verdict: 'suspicious' });
    write(dir, 'src/lib/verdict.js', "export const verdict = 'malicious';\n");
    expect(await (await loadScanModule(file, { fresh: true })).scan(bounty, ctx)).toEqual({ verdict: 'malicious' });
  });

  it('pick up edits of a CommonJS project', async () => {
    const dir = project(
      {
        'src/scan.js': "const { verdict } = require('./verdict.js');\nmodule.exports = { scan: () => ({ verdict }) };\n",
        'src/verdict.js': "exports.verdict = 'benign';\n",
      },
      'commonjs',
    );
    const file = join(dir, 'src/scan.js');
    expect(await (await loadScanModule(file, { fresh: true })).scan(bounty, ctx)).toEqual({ verdict: 'benign' });
    write(dir, 'src/verdict.js', "exports.verdict = 'malicious';\n");
    expect(await (await loadScanModule(file, { fresh: true })).scan(bounty, ctx)).toEqual({ verdict: 'malicious' });
  });
});

describe('loadScanModule: the transpile cache', () => {
  it("keeps TypeScript's output in node_modules/.cache/polyswarm-engine, keyed by the source: read back, never stale", async () => {
    const dir = project({ 'src/scan.ts': "export const scan = (): { verdict: string } => ({ verdict: 'benign' });\n" });
    mkdirSync(join(dir, 'node_modules'));
    const file = join(dir, 'src/scan.ts');
    const cacheDir = join(dir, 'node_modules', '.cache', 'polyswarm-engine');
    expect(await (await loadScanModule(file, { fresh: true })).scan(bounty, ctx)).toEqual({ verdict: 'benign' });
    const [entry, ...more] = readdirSync(cacheDir);
    expect(more).toEqual([]);
    // Read back: an entry changed behind the loader's back (its source-hash trailer kept) is what the next load runs.
    const cached = readFileSync(join(cacheDir, entry!), 'utf8');
    expect(cached).toContain("'benign'");
    writeFileSync(join(cacheDir, entry!), cached.replace("'benign'", "'from-cache'"));
    expect(await (await loadScanModule(file, { fresh: true })).scan(bounty, ctx)).toEqual({ verdict: 'from-cache' });
    // An edit changes the hash: transpiled afresh, never the old entry.
    write(dir, 'src/scan.ts', "export const scan = (): { verdict: string } => ({ verdict: 'malicious' });\n");
    expect(await (await loadScanModule(file, { fresh: true })).scan(bounty, ctx)).toEqual({ verdict: 'malicious' });
  });

  it('a cache that fails (an entry that cannot be read or written) costs the speed-up, never the load', async () => {
    const dir = project({ 'src/scan.ts': "export const scan = () => ({ verdict: 'benign' as const });\n" });
    mkdirSync(join(dir, 'node_modules'));
    const file = join(dir, 'src/scan.ts');
    const cacheDir = join(dir, 'node_modules', '.cache', 'polyswarm-engine');
    await loadScanModule(file, { fresh: true });
    const [entry] = readdirSync(cacheDir);
    rmSync(join(cacheDir, entry!));
    mkdirSync(join(cacheDir, entry!));
    write(dir, 'src/scan.ts', "export const scan = () => ({ verdict: 'malicious' as const });\n");
    expect(await (await loadScanModule(file, { fresh: true })).scan(bounty, ctx)).toEqual({ verdict: 'malicious' });
  });

  it('writes nothing into a project without node_modules', async () => {
    const dir = project({ 'src/scan.ts': "export const scan = () => ({ verdict: 'benign' as const });\n" });
    expect(await (await loadScanModule(join(dir, 'src/scan.ts'), { fresh: true })).scan(bounty, ctx)).toEqual({ verdict: 'benign' });
    expect(readdirSync(dir).sort()).toEqual(['package.json', 'src']);
  });
});

describe('loadScanModule: a scan module that is not there', () => {
  it('says so, for TypeScript and JavaScript alike (a save that deleted or renamed it)', async () => {
    const dir = project({});
    for (const name of ['src/scan.ts', 'src/scan.js']) {
      const error = await loadError(join(dir, name), { fresh: true });
      expect(error.message).toBe(`${name}: the scan module does not exist (was it deleted or renamed?)`);
    }
  });
});
