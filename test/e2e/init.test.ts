/**
 * `polyswarm-engine init` through the built bin: the non-interactive rules, bad input (each with its
 * message, exit code and nothing half-written), git, and the install failure path. No registry access:
 * these runs use --no-install, or npm in offline mode.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { BIN, ROOT, runBin } from '../helpers/bin.js';
import { lockedFolder, unlockFolder } from '../unit/scaffold/locked.js';
import { templateFiles } from '../../src/scaffold/templates.js';
import { until } from '../helpers/poll.js';

let tmp: string;
let n = 0;
/** A fresh empty working folder per test. */
function workdir(): string {
  const dir = join(tmp, `w${++n}`);
  mkdirSync(dir);
  return dir;
}
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pse-init-e2e-'));
});
afterAll(() => {
  unlockFolder(tmp);
  rmSync(tmp, { recursive: true, force: true });
});

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name), `${prefix}${e.name}/`) : [prefix + e.name]))
    .sort();
}

describe('init (built bin, no install)', () => {
  it('without a terminal and without --yes, lists the missing flags and exits 2, creating nothing', async () => {
    const cwd = workdir();
    const r = await runBin(['init'], { cwd });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Error: init: missing values and no terminal to ask on:');
    expect(r.stderr).toContain('  [dir]  the folder to create, e.g. my-engine');
    expect(r.stderr).toContain('  --template <typescript|javascript|clamav|yara>  the project template');
    expect(r.stderr).toContain('--yes to accept the defaults');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('--yes scaffolds the default template into my-engine, with git, and prints the next three commands', async () => {
    const cwd = workdir();
    const r = await runBin(['init', '--yes', '--no-install'], { cwd });
    expect(r.stderr).toBe(
      [
        'Creating a typescript engine in my-engine (package my-engine)…',
        `  polyswarm-engine dependency: file:${ROOT.replace(/\/$/, '')} (this checkout, unpublished)`,
        `  wrote ${templateFiles('typescript').length + 1} files, including .env with a new random WEBHOOK_SECRET (git-ignored)`,
        'Created a git repository with a first commit (.env is not in it).',
      ].join('\n'),
    );
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('Done. Your engine is in my-engine. Next:');
    const commands = String(r.stdout)
      .split('\n')
      .filter((l) => l.startsWith('  '))
      .map((l) => l.trim().split(/\s+#/)[0].trim());
    expect(commands).toEqual(['cd my-engine', 'npm install', 'npm run dev']);

    const dir = join(cwd, 'my-engine');
    expect(listFiles(dir).filter((f) => !f.startsWith('.git/'))).toEqual([...templateFiles('typescript'), '.env'].sort());
    const tracked = execFileSync('git', ['ls-files'], { cwd: dir, encoding: 'utf8' }).trim().split('\n').sort();
    expect(tracked).toEqual(templateFiles('typescript'));
    expect(execFileSync('git', ['status', '--porcelain'], { cwd: dir, encoding: 'utf8' })).toBe('');
    expect(readFileSync(join(dir, '.env'), 'utf8')).toMatch(/^WEBHOOK_SECRET=[0-9a-f]{64}$/m);
  });

  it('--no-git creates no repository; inside an existing repository none is created either', async () => {
    const cwd = workdir();
    const r = await runBin(['init', 'a', '--template', 'javascript', '--no-install', '--no-git'], { cwd });
    expect(r.exitCode).toBe(0);
    expect(readdirSync(join(cwd, 'a'))).not.toContain('.git');

    execFileSync('git', ['init', '-q'], { cwd });
    const inside = await runBin(['init', 'b', '--template', 'javascript', '--no-install'], { cwd });
    expect(inside.exitCode).toBe(0);
    expect(inside.stderr).toContain('Already inside a git repository: no new one created.');
    expect(readdirSync(join(cwd, 'b'))).not.toContain('.git');
  });

  it('refuses an existing non-empty folder without --force (exit 2), leaving it untouched', async () => {
    const cwd = workdir();
    mkdirSync(join(cwd, 'busy'));
    writeFileSync(join(cwd, 'busy', 'mine.txt'), 'keep');
    const r = await runBin(['init', 'busy', '--yes', '--no-install', '--no-git'], { cwd });
    expect(r.exitCode).toBe(2);
    // Only the error: no "Creating a typescript engine in busy…" before it.
    expect(r.stderr.split('\n')).toEqual([
      `Error: ${join(cwd, 'busy')} is not empty (mine.txt); refusing to overwrite it`,
      'Hint: Pick another folder, or pass --force to add the project to it (files already there are kept, nothing is deleted).',
    ]);
    expect(listFiles(join(cwd, 'busy'))).toEqual(['mine.txt']);
    expect(readdirSync(cwd)).toEqual(['busy']);
  });

  it('--force writes into it, keeping what was there', async () => {
    const cwd = workdir();
    mkdirSync(join(cwd, 'busy'));
    writeFileSync(join(cwd, 'busy', 'mine.txt'), 'keep');
    const r = await runBin(['init', 'busy', '--yes', '--no-install', '--no-git', '--force'], { cwd });
    expect(r.exitCode).toBe(0);
    expect(listFiles(join(cwd, 'busy'))).toEqual([...templateFiles('typescript'), '.env', 'mine.txt'].sort());
  });

  it('--force never replaces a file it did not create, and says which it kept', async () => {
    const cwd = workdir();
    mkdirSync(join(cwd, 'busy', 'src'), { recursive: true });
    writeFileSync(join(cwd, 'busy', 'src', 'scan.ts'), '// mine\n');
    writeFileSync(join(cwd, 'busy', 'README.md'), 'mine');
    writeFileSync(join(cwd, 'busy', 'package.json'), JSON.stringify({ name: 'busy', dependencies: { lodash: '^4.0.0' } }));
    const r = await runBin(['init', 'busy', '--yes', '--no-install', '--no-git', '--force'], { cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('added what was missing to your package.json (nothing removed)');
    expect(r.stderr).toContain('kept your README.md, src/scan.ts as they were');
    expect(readFileSync(join(cwd, 'busy', 'src', 'scan.ts'), 'utf8')).toBe('// mine\n');
    expect(readFileSync(join(cwd, 'busy', 'README.md'), 'utf8')).toBe('mine');
    const pkg = JSON.parse(readFileSync(join(cwd, 'busy', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['lodash', 'polyswarm-engine']);
  });

  it("a teammate's clone has no .env: `secret --write` makes one from .env.example, and never replaces a secret", async () => {
    const cwd = workdir();
    const made = await runBin(['init', 'team', '--yes', '--no-install', '--no-git'], { cwd });
    expect(made.exitCode).toBe(0);
    const dir = join(cwd, 'team');
    rmSync(join(dir, '.env'));
    const serve = await runBin(['serve', '--port', '0', '--cwd', dir]);
    expect(serve.exitCode).toBe(2);
    expect(serve.stderr).toContain('Hint: Run `polyswarm-engine secret --write`');

    const first = await runBin(['secret', '--write', '--cwd', dir]);
    expect(first.exitCode).toBe(0);
    expect(first.stderr).toBe(`wrote ${join(dir, '.env')} with a new random WEBHOOK_SECRET`);
    const env = readFileSync(join(dir, '.env'), 'utf8');
    expect(env).toMatch(/^WEBHOOK_SECRET=[0-9a-f]{64}$/m);
    expect(env).not.toContain('Copy to .env');
    expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o600);

    const again = await runBin(['secret', '--write', '--cwd', dir]);
    expect(again.stderr).toContain('already has a WEBHOOK_SECRET: left as it is');
    expect(readFileSync(join(dir, '.env'), 'utf8')).toBe(env);

    writeFileSync(join(dir, '.env'), 'PORT=3100\nWEBHOOK_SECRET=\n');
    const filled = await runBin(['secret', '--write', '--cwd', dir]);
    expect(filled.stderr).toContain('added a new random WEBHOOK_SECRET');
    expect(readFileSync(join(dir, '.env'), 'utf8')).toMatch(/^PORT=3100\nWEBHOOK_SECRET=[0-9a-f]{64}\n$/);

    const printed = await runBin(['secret']);
    expect(printed.stdout).toMatch(/^[0-9a-f]{64}$/);
  });

  it('`secret --write` outside a project refuses as `serve` does (exit 2, same message), writing nothing', async () => {
    const cwd = workdir();
    writeFileSync(join(cwd, 'notes.txt'), 'not an engine\n');
    const serve = await runBin(['serve', '--port', '0'], { cwd });
    const secret = await runBin(['secret', '--write'], { cwd });
    expect(serve.exitCode).toBe(2);
    expect(secret.exitCode).toBe(2);
    expect(secret.stderr).toContain(`Error: ${cwd} is not a polyswarm-engine project: looked for src/scan.ts`);
    expect(secret.stderr).toBe(serve.stderr);
    expect(readdirSync(cwd)).toEqual(['notes.txt']);
  });

  it('rejects an invalid package name with a suggestion (exit 2), creating nothing', async () => {
    const cwd = workdir();
    const r = await runBin(['init', 'x', '--yes', '--name', '_Secret Engine'], { cwd });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(
      'Error: "_Secret Engine" is not a valid npm package name: it must not start with a dot or an underscore; it must be lowercase;',
    );
    expect(r.stderr).toContain('Hint: Try --name secret-engine');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('derives a valid package name from an awkward folder name', async () => {
    const cwd = workdir();
    const r = await runBin(['init', 'My Engine', '--yes', '--no-install', '--no-git'], { cwd });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(readFileSync(join(cwd, 'My Engine', 'package.json'), 'utf8')).name).toBe('my-engine');
    expect(r.stdout).toContain('  cd "My Engine"');
  });

  it('rejects an unknown template and an unknown package manager (exit 2)', async () => {
    const cwd = workdir();
    const t = await runBin(['init', 'x', '--template', 'rust', '--yes'], { cwd });
    expect(t.exitCode).toBe(2);
    expect(t.stderr).toContain("argument 'rust' is invalid. Allowed choices are typescript, javascript, clamav, yara.");
    const pm = await runBin(['init', 'x', '--yes', '--package-manager', 'bun'], { cwd });
    expect(pm.exitCode).toBe(2);
    expect(pm.stderr).toContain("argument 'bun' is invalid. Allowed choices are npm, pnpm, yarn.");
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('reports a read-only target (exit 2) and leaves nothing behind', async () => {
    const cwd = workdir();
    const locked = join(cwd, 'locked');
    mkdirSync(locked);
    lockedFolder(locked);
    try {
      const inside = await runBin(['init', 'locked/engine', '--yes', '--no-install', '--no-git'], { cwd });
      expect(inside.exitCode).toBe(2);
      expect(inside.stderr).toMatch(
        new RegExp(`Error: cannot write to ${locked}.*: permission denied\\nHint: Pick a folder you can write to`),
      );
      const onto = await runBin(['init', 'locked', '--yes', '--no-install', '--no-git'], { cwd });
      expect(onto.exitCode).toBe(2);
      expect(onto.stderr).toContain(`Error: cannot write to ${locked}: permission denied`);
    } finally {
      unlockFolder(locked);
    }
    expect(readdirSync(locked)).toEqual([]);
    expect(readdirSync(cwd)).toEqual(['locked']);
  });

  it('a failed install exits 1 with a hint to run it by hand, and keeps the (valid) project', async () => {
    const cwd = workdir();
    // Offline npm and a version that was never published: npm fails at once, without the network.
    const r = await runBin(['init', 'e', '--yes', '--no-git'], {
      cwd,
      env: { npm_config_offline: 'true', POLYSWARM_ENGINE_DEPENDENCY: '0.0.0-never-published' },
      timeout: 60_000,
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('Installing dependencies with npm…');
    // ENOTCACHED normally; ETARGET if this machine's cache happens to hold the package's registry metadata.
    expect(r.stderr).toMatch(/npm error code (ENOTCACHED|ETARGET)/);
    expect(r.stderr).toContain(
      'Error: npm install --no-audit --no-fund exited with code 1; the project was created, its dependencies were not installed',
    );
    expect(r.stderr).toContain(`Hint: Run it by hand: cd ${join(cwd, 'e')} && npm install --no-audit --no-fund`);
    expect(JSON.parse(readFileSync(join(cwd, 'e', 'package.json'), 'utf8')).dependencies['polyswarm-engine']).toBe('0.0.0-never-published');
  });

  it('a package manager that is not installed is reported as such (exit 1)', async () => {
    const cwd = workdir();
    // A PATH with node and git only, so "pnpm" cannot be found whatever the machine has.
    const bin = join(cwd, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync(execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim(), join(bin, 'git'));
    const r = await runBin(['init', 'e', '--yes', '--no-git', '--package-manager', 'pnpm'], { cwd, env: { PATH: bin } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('Error: pnpm is not installed (or not on PATH); the project was created without dependencies');
    expect(readdirSync(join(cwd, 'e'))).toContain('package.json');
  });

  it('asks for what is missing on a real pseudo-terminal (script(1)), without CI set', async () => {
    const cwd = workdir();
    // script gives the CLI a terminal on stdin and stdout; we type into script's stdin as a user would.
    const child = execa('script', ['-qfec', `node ${BIN} init --no-install --no-git`, '/dev/null'], {
      cwd,
      reject: false,
      timeout: 20_000,
      extendEnv: false,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', TERM: 'xterm' },
    });
    let screen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      screen += chunk.toString('utf8');
    });
    let seen = 0;
    const answer = async (prompt: string, keys: string) => {
      await until(() => screen.indexOf(prompt, seen) !== -1, `"${prompt}" on the terminal`, { timeoutMs: 10_000, detail: () => screen });
      seen = screen.indexOf(prompt, seen) + prompt.length;
      child.stdin?.write(keys);
    };
    await answer('Project folder', 'pty-engine\r');
    await answer('Template', '\x1b[B\r');
    await answer('Package name', '\r');
    const r = await child;
    expect(r.exitCode, screen).toBe(0);
    expect(screen).toContain('Creating a javascript engine in pty-engine (package pty-engine)');
    expect(screen).toContain('Done. Your engine is in pty-engine. Next:');
    expect(listFiles(join(cwd, 'pty-engine'))).toEqual([...templateFiles('javascript'), '.env'].sort());
  });
});
