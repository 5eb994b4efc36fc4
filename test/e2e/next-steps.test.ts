/**
 * The commands the CLI prints (the examples of every `--help`, init's and demo's next steps) run where the user
 * stands: from a clone `node bin/polyswarm-engine.js …`, inside a project `npx polyswarm-engine …`. A bare
 * `polyswarm-engine` is `command not found` in both, and `npx polyswarm-engine` asks the registry from a clone.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli.js';
import { BIN, ROOT, runBin } from '../helpers/bin.js';
import { linkedProject } from '../helpers/linked-project.js';

const tmp = mkdtempSync(join(tmpdir(), 'pse-next-steps-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every command path (`[]`, `['test', 'bounty']`…), from the declarations. */
const PATHS: string[][] = [[], ...COMMANDS.flatMap((c) => [[c.name], ...(c.subcommands ?? []).map((s) => [c.name, s.name])])];

/** The `$ …` examples of a help text (a line ending in `\` continues on the next). */
const examples = (help: string) => [...help.matchAll(/^ {2}\$ ((?:.*\\\n)*.+)$/gm)].map((m) => m[1]);

/** Runs a printed line as a user's shell would. */
// `npm_config_package` is what `npx -p node@24 -- …` (CI's Node 24 run) leaves to its children: an inner `npx`
// would take it as its own `-p` and try to fetch that package again. A user's shell has none.
const shell = (line: string, cwd: string, env: Record<string, string> = {}) =>
  execa('sh', ['-c', line], {
    cwd,
    reject: false,
    env: { NO_COLOR: '1', CI: '1', npm_config_package: undefined, ...env },
    timeout: 60_000,
  });

describe('printed commands run where the user stands', () => {
  it('from a clone, every --help example starts with `node bin/polyswarm-engine.js`, and the read-only ones run as printed', async () => {
    const seen: string[] = [];
    for (const path of PATHS) {
      const r = await runBin([...path, '--help'], { cwd: ROOT });
      expect(r.exitCode, path.join(' ')).toBe(0);
      for (const line of examples(r.stdout)) {
        seen.push(line);
        // No bare or npx-prefixed name in command position: `npm run demo` is the one other form.
        expect(line, path.join(' ')).not.toMatch(/(^|[\s(|])(npx )?polyswarm-engine /);
        expect(line, path.join(' ')).toMatch(/node bin\/polyswarm-engine\.js |^npm run demo$/);
      }
    }
    expect(seen.length).toBeGreaterThan(30);
    // Those that change nothing, as printed, from the clone.
    const secret = seen.find((l) => l.startsWith('node bin/polyswarm-engine.js secret  '))!;
    expect((await shell(secret, ROOT)).stdout).toMatch(/^[0-9a-f]{64}$/);
    const sign = seen.find((l) => l.startsWith("printf '' | node bin/polyswarm-engine.js sign -"))!;
    expect((await shell(sign, ROOT, { WEBHOOK_SECRET: 'qwertyuiop' })).stdout).toMatch(/^[0-9a-f]{64}$/);
  });

  it('from another folder, the clone is named by its path, and init --help’s example runs as printed', async () => {
    const empty = join(tmp, 'acme');
    mkdirSync(empty);
    const r = await runBin(['init', '--help'], { cwd: empty });
    const line = examples(r.stdout).find((l) => l.includes('--no-install'))!;
    // The path as typed from there: relative when that is shorter (a clone next to the folder), else absolute.
    const shown = /^node (\S+) init \. --template javascript --name acme-engine --no-install --force$/.exec(line)?.[1];
    expect(shown, line).toBeDefined();
    expect(resolve(empty, shown!)).toBe(BIN);
    expect(shown!.length).toBeLessThanOrEqual(BIN.length);
    const run = await shell(line, empty);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(empty, 'package.json'), 'utf8')).name).toBe('acme-engine');
  });

  it('inside a project, the examples say `npx polyswarm-engine`, which runs there', async () => {
    const dir = await linkedProject(tmp, 'inside');
    const help = await shell('npx --no polyswarm-engine test --help', dir);
    expect(help.exitCode, help.stderr).toBe(0);
    const lines = examples(help.stdout);
    expect(lines[0]).toBe('npx polyswarm-engine test ping');
    for (const l of lines) expect(l).toMatch(/^npx polyswarm-engine test /);
    const secret = await shell('npx --no polyswarm-engine secret', dir);
    expect(secret.stdout).toMatch(/^[0-9a-f]{64}$/);
  });

  it("clamav: init's offline recipe, run as printed, gives ClamAV a signature the whole suite passes with", async () => {
    const r = await runBin(['init', 'clam', '--template', 'clamav', '--yes', '--no-install', '--no-git', '--force'], { cwd: tmp });
    const recipe = r.stdout
      .split('\n')
      .filter((l) => /^\s+echo /.test(l))
      .map((l) => l.trim());
    expect(recipe).toEqual([
      "echo '44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature' > eicar.hdb",
      'echo "CLAMAV_DATABASE=$PWD/eicar.hdb" >> .env',
    ]);
    rmSync(join(tmp, 'clam'), { recursive: true, force: true });
    const dir = await linkedProject(tmp, 'clam', 'clamav');
    for (const line of recipe) expect((await shell(line, dir)).exitCode).toBe(0);
    // The next step the project's own README gives, as a user types it: the conformance suite, booting the engine.
    const suite = await shell('npm run --silent test:engine -- --expiration 10s', dir, { PATH: process.env.PATH! });
    expect(suite.stdout, suite.stderr).toMatch(/^28 passed, 0 failed$/m);
  }, 90_000);
});
