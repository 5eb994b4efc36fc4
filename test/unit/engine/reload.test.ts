import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadScanModule, ScanModuleError } from '../../../src/engine/loader.js';
import { findProject } from '../../../src/util/project.js';
import { watchedPaths, watchScanModule, type ReloadOutcome, type ScanModuleWatcher } from '../../../src/engine/reload.js';
import type { Bounty, ScanContext } from '../../../src/engine/types.js';
import { createLogger } from '../../../src/util/logger.js';
import { holds, until } from '../../helpers/poll.js';

const base = mkdtempSync(join(tmpdir(), 'pse-reload-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

let watcher: ScanModuleWatcher | undefined;
afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
});

let count = 0;
const scanSource = (verdict: string) =>
  `import { suffix } from './suffix.js';\nexport const scan = () => ({ verdict: '${verdict}' + suffix });\n`;

/** A stream for the logger and the lines written to it. */
function logLines(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).trimEnd().split('\n'));
      done();
    },
  });
  return { lines, stream };
}

async function start() {
  const dir = join(base, `p${++count}`);
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  writeFileSync(join(dir, 'src', 'scan.ts'), scanSource('benign'));
  writeFileSync(join(dir, 'src', 'suffix.ts'), "export const suffix = '';\n");
  const project = findProject(dir);
  const { lines, stream } = logLines();
  const outcomes: ReloadOutcome[] = [];
  const initial = await loadScanModule(project.scanFile, { fresh: true });
  watcher = await watchScanModule({
    project,
    initial,
    logger: createLogger({ stream, level: 'debug' }),
    onReload: (o) => outcomes.push(o),
  });
  const verdict = async () => ((await watcher!.current().scan({} as Bounty, {} as ScanContext)) as { verdict: string }).verdict;
  return { dir, lines, outcomes, verdict, write: (name: string, text: string) => writeFileSync(join(dir, 'src', name), text) };
}

/** The suite's polling helper, with the what-first argument order these tests were written with. */
const waitFor = <T>(what: string, probe: () => T | Promise<T>, timeoutMs = 3000) => until(probe, what, timeoutMs);

describe('watchScanModule', () => {
  it('a save of scan.ts swaps the module in, logs `reloaded` with the ms it took', async () => {
    const t = await start();
    expect(await t.verdict()).toBe('benign');
    const saved = performance.now();
    t.write('scan.ts', scanSource('malicious'));
    await waitFor('the reload', () => t.outcomes.length === 1);
    const delay = performance.now() - saved;
    console.log(`hot reload (unit): save → new module in ${delay.toFixed(0)} ms`);
    expect(t.outcomes[0]).toMatchObject({ ok: true, generation: 1 });
    expect(await t.verdict()).toBe('malicious');
    expect(t.lines.find((l) => l.includes('reloaded'))).toMatch(/INFO  reloaded file=src\/scan\.ts ms=\d+ since_save_ms=\d+/);
  });

  it('a save of a file scan.ts imports reloads too', async () => {
    const t = await start();
    t.write('suffix.ts', "export const suffix = '!';\n");
    await waitFor('the reload', () => t.outcomes.length === 1);
    expect(await t.verdict()).toBe('benign!');
  });

  it('a broken save keeps the last good module and logs file:line; the fix is picked up', async () => {
    const t = await start();
    t.write('scan.ts', "export const scan = () => ({ verdict: 'malicious' );\n");
    await waitFor('the failed reload', () => t.outcomes.length === 1);
    expect(t.outcomes[0]!.ok).toBe(false);
    expect(await t.verdict()).toBe('benign');
    expect(watcher!.generation).toBe(0);
    const failure = t.lines.find((l) => l.includes('reload failed'));
    expect(failure).toContain('ERROR reload failed at=src/scan.ts:1:51');
    expect(failure).toContain('SyntaxError: Unexpected token');
    expect(failure).toContain('keeping="the last good module"');

    t.write('scan.ts', scanSource('suspicious'));
    await waitFor('the good reload', () => t.outcomes.length === 2);
    expect(await t.verdict()).toBe('suspicious');
  });

  it('a module that loads but lost its scan export is refused the same way', async () => {
    const t = await start();
    t.write('scan.ts', 'export const scna = () => 1;\n');
    await waitFor('the failed reload', () => t.outcomes.length === 1);
    expect(await t.verdict()).toBe('benign');
    expect(t.lines.join('\n')).toContain('at=src/scan.ts error="it does not export a `scan` function (it exports: scna (function))"');
  });

  it('a burst of saves ends on the last one', async () => {
    const t = await start();
    for (const v of ['a', 'b', 'c', 'd']) t.write('scan.ts', scanSource(v));
    await waitFor('the last save to be served', async () => (await t.verdict()) === 'd');
    expect(t.outcomes.every((o) => o.ok)).toBe(true);
  });

  it('editor swap files, backups and dotfiles do not trigger a reload', async () => {
    const t = await start();
    t.write('.scan.ts.swp', 'x');
    t.write('scan.ts~', 'x');
    t.write('#scan.ts#', 'x');
    t.write('4913', '');
    await holds(() => t.outcomes.length === 0, 'no reload', 300);
    expect(t.outcomes).toEqual([]);
    t.write('suffix.ts', "export const suffix = '?';\n");
    await waitFor('the reload', () => t.outcomes.length === 1);
    expect(await t.verdict()).toBe('benign?');
  });
});

/** A scan module that reads `rules/verdict.txt` when it loads; a line `broken` there throws an error that says where. */
const RULES_SCAN = `import { readFileSync } from 'node:fs';
const file = new URL('../rules/verdict.txt', import.meta.url);
const lines = readFileSync(file, 'utf8').split('\\n');
const broken = lines.findIndex((l) => l.trim() === 'broken');
if (broken >= 0) {
  throw Object.assign(new Error('this rule does not compile'), { name: 'RuleError', location: { file: 'rules/verdict.txt', line: broken + 1, column: 3 } });
}
export const scan = () => ({ verdict: lines[0] });
`;

describe('watchScanModule and the paths package.json adds (polyswarm.watch)', () => {
  async function startWithRules(watch: unknown) {
    const dir = join(base, `r${++count}`);
    mkdirSync(join(dir, 'src'), { recursive: true });
    mkdirSync(join(dir, 'rules'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', polyswarm: { watch } }));
    writeFileSync(join(dir, 'src', 'scan.ts'), RULES_SCAN);
    writeFileSync(join(dir, 'rules', 'verdict.txt'), 'benign\n');
    const project = findProject(dir);
    const { lines, stream } = logLines();
    const outcomes: ReloadOutcome[] = [];
    const initial = await loadScanModule(project.scanFile, { fresh: true });
    watcher = await watchScanModule({ project, initial, logger: createLogger({ stream }), onReload: (o) => outcomes.push(o) });
    const verdict = async () => ((await watcher!.current().scan({} as Bounty, {} as ScanContext)) as { verdict: string }).verdict;
    return { dir, project, lines, outcomes, verdict, rules: (text: string) => writeFileSync(join(dir, 'rules', 'verdict.txt'), text) };
  }

  it('lists src/ then the project-relative paths, and refuses anything but a list of relative paths', async () => {
    const t = await startWithRules(['rules', 'rules', 'extra/file.txt']);
    expect(watchedPaths(t.project)).toEqual([t.project.srcDir, join(t.dir, 'rules'), join(t.dir, 'extra', 'file.txt')]);
    for (const bad of ['rules', [42], ['/etc'], ['']]) {
      writeFileSync(join(t.dir, 'package.json'), JSON.stringify({ polyswarm: { watch: bad } }));
      expect(() => watchedPaths(t.project), JSON.stringify(bad)).toThrow(
        '"polyswarm.watch" must be a list of paths relative to the project',
      );
    }
    writeFileSync(join(t.dir, 'package.json'), '{}');
    expect(watchedPaths(t.project)).toEqual([t.project.srcDir]);
  });

  it('a save in a watched folder outside src/ reloads the module, which reads it again', async () => {
    const t = await startWithRules(['rules']);
    expect(await t.verdict()).toBe('benign');
    t.rules('malicious\n');
    await waitFor('the reload', () => t.outcomes.length === 1);
    expect(t.outcomes[0]).toMatchObject({ ok: true, generation: 1 });
    expect(await t.verdict()).toBe('malicious');
    expect(t.lines.find((l) => l.includes('reloaded'))).toContain('reloaded file=rules/verdict.txt');
  });

  it('an error that states its location is reported there, with the line under it, and the last good module kept', async () => {
    const t = await startWithRules(['rules']);
    t.rules('malicious\n  broken\n');
    await waitFor('the failed reload', () => t.outcomes.length === 1);
    expect(await t.verdict()).toBe('benign');
    const error = t.outcomes[0]!.ok ? undefined : t.outcomes[0]!.error;
    expect(error).toBeInstanceOf(ScanModuleError);
    expect((error as ScanModuleError).location).toEqual({ file: join(t.dir, 'rules', 'verdict.txt'), line: 2, column: 3 });
    const at = t.lines.findIndex((l) => l.includes('reload failed'));
    expect(t.lines[at]).toContain('reload failed at=rules/verdict.txt:2:3 error="RuleError: this rule does not compile"');
    expect(t.lines.slice(at + 1, at + 3)).toEqual(['ERROR   2 |   broken', 'ERROR     |   ^']);
  });

  it('an invalid polyswarm.watch is a warning, and src/ is still watched', async () => {
    const t = await startWithRules('rules');
    expect(t.lines.join('\n')).toContain('WARN  watching src/ only: package.json "polyswarm.watch" must be a list');
    t.rules('malicious\n');
    await holds(() => t.outcomes.length === 0, 'no reload for a file outside the watched folders', 300);
    writeFileSync(join(t.dir, 'src', 'scan.ts'), `${RULES_SCAN}\n`);
    await waitFor('the reload', () => t.outcomes.length === 1);
    expect(await t.verdict()).toBe('malicious');
  });
});
