/**
 * Every template, end to end, as a user gets it: `init --yes` into a temporary folder (installing for real
 * with npm, so this uses the registry and the shared npm cache), the project's own `npm test`, its
 * TypeScript check where it has one, then `polyswarm-engine test all --cwd <project>` in zero-setup mode
 * (the simulator boots the project's engine itself), and the file list against the template's.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runBin } from '../helpers/bin.js';
import { TEMPLATE_NAMES, templateFiles, type TemplateName } from '../../src/scaffold/templates.js';

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
const SLOW = 240_000;

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !(prefix === '' && ['node_modules', '.git'].includes(e.name)))
    .flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name), `${prefix}${e.name}/`) : [prefix + e.name]))
    .sort();
}

/** Runs a command in the project like a user's shell would, never rejecting (tests assert the code). */
function inProject(dir: string, file: string, args: string[], env: Record<string, string> = {}) {
  return execa(file, args, {
    cwd: dir,
    reject: false,
    all: true,
    timeout: 180_000,
    // A clean environment: not the one of this vitest run (a nested vitest must not see VITEST_* variables).
    extendEnv: false,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', CI: '1', npm_config_update_notifier: 'false', ...env },
  });
}

describe.each(TEMPLATE_NAMES)('init --template %s, installed and run for real', (template: TemplateName) => {
  let tmp: string;
  let dir: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), `pse-template-${template}-`));
    dir = join(tmp, `${template}-engine`);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it(
    'scaffolds and installs non-interactively',
    async () => {
      const r = await runBin(['init', dir, '--template', template, '--yes', '--no-git'], {
        cwd: tmp,
        timeout: SLOW,
        // Reuse cached packages when the machine has them; the registry is only asked about missing ones. Such a
        // question fails at once rather than being retried for minutes: the yara template's binding names its
        // other platforms' packages as optional, and npm asks about them without ever installing them here.
        env: { npm_config_prefer_offline: 'true', npm_config_fetch_retries: '0' },
      });
      expect(r.stderr).toContain(`Installing dependencies with npm…`);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(r.stdout).toContain('npm run dev');
      // ClamAV needs signatures before it can judge anything: the next steps say how to get them.
      if (template === 'clamav') expect(r.stdout).toContain('sudo freshclam');
      expect(listFiles(dir)).toEqual([...templateFiles(template), '.env', 'package-lock.json'].sort());
      // The dependency is this checkout, linked: the project's bin is this very CLI.
      const version = await inProject(dir, 'npx', ['--no', 'polyswarm-engine', '--version']);
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    },
    SLOW,
  );

  it(
    'passes its own tests (npm test)',
    async () => {
      const r = await inProject(dir, 'npm', ['test']);
      expect(r.exitCode, r.all).toBe(0);
      expect(r.all).toMatch(/Tests\s+\d+ passed/);
      // Nothing skipped: for clamav that means its clamd tests ran against a real clamd (.ci/run installs it).
      expect(r.all).not.toMatch(/\d+ skipped/);
    },
    SLOW,
  );

  it(
    "type-checks against the package's typings (TypeScript, or JSDoc through jsconfig.json)",
    async () => {
      // The javascript template has no TypeScript of its own: check its JSDoc with this checkout's compiler.
      const r =
        template === 'javascript'
          ? await inProject(dir, 'node', [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'jsconfig.json'])
          : await inProject(dir, 'npm', ['run', 'typecheck']);
      expect(r.exitCode, r.all).toBe(0);
    },
    SLOW,
  );

  it(
    'passes the conformance suite (test all, zero setup: the simulator boots the project)',
    async () => {
      if (template === 'clamav') {
        // The engine needs signatures: a one-line database with an MD5 hash signature of EICAR, via .env.
        const db = join(tmp, 'eicar.hdb');
        writeFileSync(db, `${createHash('md5').update(EICAR).digest('hex')}:${EICAR.length}:Eicar-Test-Signature\n`);
        appendFileSync(join(dir, '.env'), `CLAMAV_DATABASE=${db}\n`);
      }
      const r = await inProject(tmp, 'node', [BIN, 'test', 'all', '--cwd', dir]);
      expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/^\d+ passed, 0 failed$/m);
    },
    SLOW,
  );
});
