/**
 * `npm run demo`, the README's first command: a throwaway engine from this checkout, the conformance suite
 * against it, a result a newcomer can read, and nothing left behind. No registry access (the demo links
 * this package instead of installing it).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/bin.js';

// The demo's temporary folders go here, so the test can see that it removes them.
const tmp = mkdtempSync(join(tmpdir(), 'pse-demo-e2e-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('npm run demo', () => {
  it('scaffolds, runs and checks an engine in well under a minute, explains it, and cleans up', async () => {
    const started = Date.now();
    const r = await execa('npm', ['run', '--silent', 'demo'], {
      cwd: ROOT,
      reject: false,
      timeout: 60_000,
      extendEnv: false,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: tmp, NO_COLOR: '1', CI: '1' },
    });
    const elapsed = Date.now() - started;
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(elapsed).toBeLessThan(45_000);
    expect(r.stdout).toContain('polyswarm-engine demo: a throwaway PolySwarm engine, started and checked end to end.');
    expect(r.stdout).toMatch(
      new RegExp(`1\\. Created an engine project from the typescript template in ${tmp}/polyswarm-engine-demo-\\w+/demo-engine`),
    );
    // The suite's own report: one line per case, then the summary.
    expect(r.stdout).toMatch(/✓ .*ping/i);
    expect(r.stdout).toMatch(/✓ .*eicar/i);
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed$/m);
    expect(r.stdout).not.toContain('✗');
    expect(r.stdout).toContain('What just happened');
    expect(r.stdout).toMatch(/Result: every check passed in \d/);
    // From a clone the next steps name the clone's bin (npx would ask the registry for an unpublished package).
    expect(r.stdout).toMatch(
      /\nNext steps\n {2}node bin\/polyswarm-engine\.js init my-engine +# your own engine\n {2}cd my-engine && npm run dev +# run it, reloading src\/scan\.ts on save\n {2}npm run test:engine +# in a second terminal: these same checks$/,
    );
    expect(r.stdout).not.toContain('npx polyswarm-engine');
    // Only the demo's own folder is checked: tools it runs (jiti's transpile cache) may keep theirs here.
    expect(readdirSync(tmp).filter((name) => name.startsWith('polyswarm-engine-demo-'))).toEqual([]);
    console.log(`demo took ${elapsed} ms`);
  }, 70_000);
});
