import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findProject } from '../../../src/util/project.js';
import { ExitCode, UsageError } from '../../../src/util/errors.js';

const base = mkdtempSync(join(tmpdir(), 'pse-project-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function folder(name: string, files: Record<string, string> = {}): string {
  const dir = join(base, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), content);
  }
  return dir;
}

function usageError(cwd: string): UsageError {
  try {
    findProject(cwd);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(ExitCode.USAGE);
    return error as UsageError;
  }
  throw new Error(`findProject(${cwd}) did not throw`);
}

describe('findProject', () => {
  it('finds src/scan.ts, preferring TypeScript over a built scan.js beside it', () => {
    const dir = folder('ts', { 'src/scan.ts': '', 'src/scan.js': '' });
    expect(findProject(dir)).toEqual({ dir, srcDir: join(dir, 'src'), scanFile: join(dir, 'src', 'scan.ts') });
  });

  it('accepts .mts, .js and .mjs, and a relative --cwd', () => {
    for (const ext of ['mts', 'js', 'mjs']) {
      const dir = folder(`only-${ext}`, { [`src/scan.${ext}`]: '' });
      expect(findProject(dir).scanFile).toBe(join(dir, 'src', `scan.${ext}`));
    }
    const dir = folder('relative', { 'src/scan.mjs': '' });
    const cwd = process.cwd();
    process.chdir(base);
    try {
      expect(findProject('relative').dir).toBe(dir);
    } finally {
      process.chdir(cwd);
    }
  });

  it('a folder that does not exist', () => {
    const error = usageError(join(base, 'nope'));
    expect(error.message).toBe(`${join(base, 'nope')} does not exist`);
    expect(error.hint).toContain('polyswarm-engine init');
  });

  it('a file instead of a folder', () => {
    const dir = folder('file-parent', { 'package.json': '{}' });
    expect(usageError(join(dir, 'package.json')).message).toBe(`${join(dir, 'package.json')} is not a folder`);
  });

  it('not an engine project: says what was looked for and suggests init', () => {
    const dir = folder('plain', { 'README.md': '# hi', 'package.json': '{"name":"x"}' });
    const error = usageError(dir);
    expect(error.message).toBe(`${dir} is not a polyswarm-engine project: looked for src/scan.ts, src/scan.mts, src/scan.js, src/scan.mjs`);
    expect(error.hint).toBe('Create one with `polyswarm-engine init my-engine`, or pass --cwd <your engine project folder>.');
  });

  it('an engine project whose src/scan.* is missing', () => {
    const withSrc = folder('no-scan', { 'src/other.ts': '' });
    expect(usageError(withSrc).message).toBe(
      `${withSrc} has no scan module: looked for src/scan.ts, src/scan.mts, src/scan.js, src/scan.mjs`,
    );
    const withDependency = folder('dep-only', { 'package.json': '{"dependencies":{"polyswarm-engine":"^0.1.0"}}' });
    const error = usageError(withDependency);
    expect(error.message).toContain('has no scan module');
    expect(error.hint).toContain('Create src/scan.ts');
  });
});
