import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { envFromExample, envWithSecret, scaffoldProject } from '../../../src/scaffold/scaffold.js';
import { TEMPLATES_ROOT } from '../../../src/scaffold/package-root.js';
import { TEMPLATE_NAMES, templateFiles } from '../../../src/scaffold/templates.js';
import { UsageError } from '../../../src/util/errors.js';
import { lockedFolder, unlockFolder } from './locked.js';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pse-scaffold-'));
});
afterEach(() => {
  unlockFolder(tmp);
  rmSync(tmp, { recursive: true, force: true });
});

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name), `${prefix}${e.name}/`) : [prefix + e.name]))
    .sort();
}

const base = { packageName: 'acme-engine', dependency: 'file:/opt/polyswarm-engine', secret: 'f'.repeat(64) };

describe('scaffoldProject', () => {
  it.each(TEMPLATE_NAMES)('writes exactly the %s template’s files, dotfiles renamed, plus .env', async (template) => {
    const dir = join(tmp, 'acme-engine');
    const result = await scaffoldProject({ ...base, template, targetDir: dir });
    const expected = [...templateFiles(template), '.env'].sort();
    expect(listFiles(dir)).toEqual(expected);
    expect(result.files).toEqual(expected);
    expect(expected).toEqual(
      expect.arrayContaining(['.gitignore', '.env.example', '.dockerignore', 'package.json', 'README.md', 'Dockerfile']),
    );
    expect(expected.some((f) => f.split('/').some((part) => part.startsWith('_')))).toBe(false);
    // Nothing staged is left beside it.
    expect(readdirSync(tmp)).toEqual(['acme-engine']);
  });

  it('sets the package name and the dependency through JSON, and titles the README', async () => {
    const dir = join(tmp, 'x');
    await scaffoldProject({ ...base, template: 'typescript', targetDir: dir });
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const original = JSON.parse(readFileSync(join(TEMPLATES_ROOT, 'typescript', 'package.json'), 'utf8'));
    expect(pkg).toEqual({
      ...original,
      name: 'acme-engine',
      dependencies: { ...original.dependencies, 'polyswarm-engine': 'file:/opt/polyswarm-engine' },
    });
    expect(readFileSync(join(dir, 'README.md'), 'utf8').split('\n')[0]).toBe('# acme-engine');
  });

  it('writes .env with the secret (owner-only) and leaves .env.example without it; .gitignore ignores .env', async () => {
    const dir = join(tmp, 'x');
    await scaffoldProject({ ...base, template: 'clamav', targetDir: dir });
    const env = readFileSync(join(dir, '.env'), 'utf8');
    expect(env).toMatch(new RegExp(`^WEBHOOK_SECRET=${'f'.repeat(64)}$`, 'm'));
    expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, '.env.example'), 'utf8')).toMatch(/^WEBHOOK_SECRET=$/m);
    expect(readFileSync(join(dir, '.env.example'), 'utf8')).not.toContain('f'.repeat(64));
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toMatch(/^\.env$/m);
    expect(env).toContain('# CLAMAV_DATABASE=');
  });

  it('generates a different 64-hex-digit secret for every project', async () => {
    const secrets = [];
    for (const name of ['a', 'b']) {
      await scaffoldProject({ ...base, secret: undefined, template: 'typescript', targetDir: join(tmp, name) });
      secrets.push(/^WEBHOOK_SECRET=(.*)$/m.exec(readFileSync(join(tmp, name, '.env'), 'utf8'))?.[1]);
    }
    expect(secrets[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(secrets[1]).toMatch(/^[0-9a-f]{64}$/);
    expect(secrets[0]).not.toBe(secrets[1]);
  });

  it('creates missing parent folders', async () => {
    const dir = join(tmp, 'deep', 'er', 'engine');
    await scaffoldProject({ ...base, template: 'javascript', targetDir: dir });
    expect(existsSync(join(dir, 'src', 'scan.js'))).toBe(true);
  });

  it('writes into an existing empty folder (and one holding only .git)', async () => {
    const dir = join(tmp, 'empty');
    mkdirSync(join(dir, '.git'), { recursive: true });
    await scaffoldProject({ ...base, template: 'typescript', targetDir: dir });
    expect(listFiles(dir).filter((f) => !f.startsWith('.git/'))).toEqual([...templateFiles('typescript'), '.env'].sort());
  });

  it('refuses a non-empty folder without force, says why, and touches nothing', async () => {
    const dir = join(tmp, 'busy');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const error = await scaffoldProject({ ...base, template: 'typescript', targetDir: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(`${dir} is not empty (notes.txt); refusing to overwrite it`);
    expect((error as UsageError).hint).toContain('--force');
    expect(listFiles(dir)).toEqual(['notes.txt']);
    expect(readdirSync(tmp)).toEqual(['busy']);
  });

  it('with force, adds the project to a non-empty folder and replaces none of its files', async () => {
    const dir = join(tmp, 'busy');
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    writeFileSync(join(dir, 'src', 'helper.ts'), 'export {}');
    writeFileSync(join(dir, 'src', 'scan.ts'), '// my scan\n');
    writeFileSync(join(dir, 'README.md'), 'old');
    writeFileSync(join(dir, '.gitignore'), 'dist/\n');
    const pkg = { name: 'mine', version: '3.0.0', scripts: { test: 'node --test' }, dependencies: { lodash: '^4.17.21' } };
    writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
    writeFileSync(join(dir, '.env'), 'WEBHOOK_SECRET=keep-me\n');
    const result = await scaffoldProject({ ...base, template: 'typescript', targetDir: dir, force: true });
    expect(result.wroteEnv).toBe(false);
    expect(result.kept).toEqual(['.env', 'README.md', 'src/scan.ts']);
    expect(result.completed).toEqual(['.gitignore', 'package.json']);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    expect(readFileSync(join(dir, 'src', 'helper.ts'), 'utf8')).toBe('export {}');
    expect(readFileSync(join(dir, 'src', 'scan.ts'), 'utf8')).toBe('// my scan\n');
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toBe('old');
    expect(readFileSync(join(dir, '.env'), 'utf8')).toBe('WEBHOOK_SECRET=keep-me\n');
    // package.json: everything it had, plus the dependency and the scripts it lacked.
    const merged = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | string>;
    expect(merged).toMatchObject({
      ...pkg,
      scripts: { test: 'node --test', dev: 'polyswarm-engine serve' },
      dependencies: { lodash: '^4.17.21', 'polyswarm-engine': base.dependency },
    });
    // .gitignore: its own lines first, then the template's it lacked (.env above all).
    const ignore = readFileSync(join(dir, '.gitignore'), 'utf8');
    expect(ignore.startsWith('dist/\n')).toBe(true);
    expect(ignore).toMatch(/^\.env$/m);
    expect(ignore.match(/^dist\/$/gm)).toHaveLength(1);
    expect(existsSync(join(dir, 'tsconfig.json'))).toBe(true);
    expect(readdirSync(tmp)).toEqual(['busy']);
  });

  it('with force, gives an existing .env without a secret the new one, keeping the rest of it', async () => {
    const dir = join(tmp, 'half');
    mkdirSync(dir);
    writeFileSync(join(dir, '.env'), 'PORT=3100\n');
    const result = await scaffoldProject({ ...base, template: 'typescript', targetDir: dir, force: true });
    expect(result.wroteEnv).toBe(true);
    expect(result.completed).toEqual(['.env']);
    expect(readFileSync(join(dir, '.env'), 'utf8')).toBe(`PORT=3100\nWEBHOOK_SECRET=${'f'.repeat(64)}\n`);
  });

  it("creates the project folder with the mode the umask gives, not mkdtemp's 0700", async () => {
    const dir = join(tmp, 'modes');
    await scaffoldProject({ ...base, template: 'typescript', targetDir: dir });
    const umask = process.umask();
    expect(statSync(dir).mode & 0o777).toBe(0o777 & ~umask);
    expect(statSync(join(dir, 'src')).mode & 0o777).toBe(0o777 & ~umask);
    expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o600);
  });

  it('rejects an unknown template and an invalid package name before writing anything', async () => {
    const dir = join(tmp, 'x');
    await expect(scaffoldProject({ ...base, template: 'rust', targetDir: dir })).rejects.toMatchObject({
      message: 'unknown template "rust"',
      hint: 'Choose one of: typescript, javascript, clamav, yara.',
      exitCode: 2,
    });
    const error = await scaffoldProject({ ...base, packageName: 'Bad Name', template: 'typescript', targetDir: dir }).catch(
      (e: unknown) => e,
    );
    expect((error as UsageError).message).toBe(
      "\"Bad Name\" is not a valid npm package name: it must be lowercase; it may only contain URL-safe characters (letters, digits, '-', '.', '_'; one '@scope/' prefix)",
    );
    expect((error as UsageError).hint).toBe('Try --name bad-name');
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('refuses a file where the folder should be', async () => {
    writeFileSync(join(tmp, 'file'), '');
    await expect(scaffoldProject({ ...base, template: 'typescript', targetDir: join(tmp, 'file') })).rejects.toThrow(
      `${join(tmp, 'file')} exists and is a file, not a folder`,
    );
  });

  it('reports a read-only parent folder as a usage error and leaves nothing behind', async () => {
    const parent = join(tmp, 'locked');
    mkdirSync(parent);
    lockedFolder(parent);
    const error = await scaffoldProject({ ...base, template: 'typescript', targetDir: join(parent, 'engine') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toMatch(new RegExp(`^cannot write to ${parent}.*: (permission denied|read-only file system)$`));
    unlockFolder(parent);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('reports a read-only existing empty target the same way', async () => {
    const target = join(tmp, 'locked-target');
    mkdirSync(target);
    lockedFolder(target);
    const error = await scaffoldProject({ ...base, template: 'typescript', targetDir: target }).catch((e: unknown) => e);
    expect((error as UsageError).message).toMatch(new RegExp(`^cannot write to ${target}: permission denied$`));
    unlockFolder(target);
    expect(readdirSync(target)).toEqual([]);
    expect(readdirSync(tmp)).toEqual(['locked-target']);
  });

  it('writes into an existing folder whose parent is read-only (init . in a home folder)', async () => {
    const parent = join(tmp, 'home');
    const target = join(parent, 'me');
    mkdirSync(target, { recursive: true });
    lockedFolder(parent);
    try {
      await scaffoldProject({ ...base, template: 'typescript', targetDir: target });
    } finally {
      unlockFolder(parent);
    }
    expect(listFiles(target)).toEqual([...templateFiles('typescript'), '.env'].sort());
    expect(readdirSync(parent)).toEqual(['me']);
  });

  it('removes everything it staged when the template turns out broken mid-copy', async () => {
    const templates = join(tmp, 'templates');
    cpSync(join(TEMPLATES_ROOT, 'typescript'), join(templates, 'typescript'), { recursive: true });
    writeFileSync(join(templates, 'typescript', 'package.json'), '{ not json');
    const work = join(tmp, 'work');
    mkdirSync(work);
    await expect(
      scaffoldProject({ ...base, template: 'typescript', targetDir: join(work, 'engine'), templatesRoot: templates }),
    ).rejects.toThrow(/cannot write the project to .*engine: .*JSON/);
    expect(readdirSync(work)).toEqual([]);
  });

  it('with force into a folder, removes only what it had created when a later step fails', async () => {
    const dir = join(tmp, 'busy');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    // A package.json it cannot read: the merge stops there, possibly after moving other entries in.
    writeFileSync(join(dir, 'package.json'), '{ not json');
    await expect(scaffoldProject({ ...base, template: 'typescript', targetDir: dir, force: true })).rejects.toThrow(
      /package\.json is not valid JSON/,
    );
    expect(listFiles(dir)).toEqual(['notes.txt', 'package.json']);
    expect(readFileSync(join(dir, 'package.json'), 'utf8')).toBe('{ not json');
    expect(readdirSync(tmp)).toEqual(['busy']);
  });
});

describe('envWithSecret', () => {
  it('fills an empty WEBHOOK_SECRET= or appends one, and never replaces a secret', () => {
    expect(envWithSecret('A=1\nWEBHOOK_SECRET=\nB=2\n', 's')).toBe('A=1\nWEBHOOK_SECRET=s\nB=2\n');
    expect(envWithSecret('A=1', 's')).toBe('A=1\nWEBHOOK_SECRET=s\n');
    expect(envWithSecret('', 's')).toBe('WEBHOOK_SECRET=s\n');
    expect(envWithSecret('WEBHOOK_SECRET=mine\n', 's')).toBeNull();
  });
});

describe('envFromExample', () => {
  it('starts with its own header, not the example\'s "Copy to .env" paragraph', () => {
    const env = envFromExample(
      '# Copy to .env and fill in. Read by serve;\n# the environment wins.\n\n# The secret.\nWEBHOOK_SECRET=\n',
      's',
    );
    expect(env).not.toContain('Copy to .env');
    expect(env).toMatch(/^# Written by polyswarm-engine\. Keep this file out of git/);
    expect(env).toMatch(/\n\n# The secret\.\nWEBHOOK_SECRET=s\n$/);
  });

  it('fills the WEBHOOK_SECRET line, or appends one', () => {
    expect(envFromExample('# c\nWEBHOOK_SECRET=\nPORT=1\n', 's')).toMatch(/\n# c\nWEBHOOK_SECRET=s\nPORT=1\n$/);
    expect(envFromExample('', 's')).toMatch(/\nWEBHOOK_SECRET=s\n$/);
  });
});

it('git check-ignore agrees that .env is ignored by the template', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pse-ignore-'));
  try {
    cpSync(join(TEMPLATES_ROOT, 'typescript', '_gitignore'), join(dir, '.gitignore'));
    execFileSync('git', ['init', '-q'], { cwd: dir });
    const ignored = execFileSync('git', ['check-ignore', '.env', '.polyswarm/serve.json', 'node_modules/x'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(ignored.trim().split('\n')).toEqual(['.env', '.polyswarm/serve.json', 'node_modules/x']);
    expect(() => execFileSync('git', ['check-ignore', '.env.example'], { cwd: dir })).toThrow();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
