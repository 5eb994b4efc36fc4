/**
 * The system check that runs before any test (test/helpers/system-deps.mjs): on a machine without one of the
 * programs the suite drives, it names it and prints the one apt-get line for the missing packages only.
 */
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/bin.js';
// @ts-expect-error a plain .mjs (npm test runs it with node before the build), no types
import { missingSystemPackages, systemDepsMessage } from '../helpers/system-deps.mjs';

const bin = mkdtempSync(join(tmpdir(), 'pse-system-deps-'));
afterAll(() => rmSync(bin, { recursive: true, force: true }));
/** A PATH holding only `names` (stand-ins that are executable, as the check asks). */
function pathWith(...names: string[]): string {
  const dir = mkdtempSync(join(bin, 'path-'));
  for (const name of names) {
    writeFileSync(join(dir, name), '#!/bin/sh\n');
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

describe('the system check before any test', () => {
  it('names what is missing and the packages that bring it, in the apt line order', () => {
    // clamd is also looked for in /usr/sbin: CLAMD_PATH pointing nowhere hides it.
    const env = { PATH: pathWith('clamscan'), CLAMD_PATH: join(bin, 'no-clamd') };
    expect(missingSystemPackages(env).map((m: { pkg: string }) => m.pkg)).toEqual(
      expect.arrayContaining(['redis-server', 'clamav-daemon']),
    );
    expect(missingSystemPackages(env).map((m: { pkg: string }) => m.pkg)).not.toContain('clamav');
    expect((systemDepsMessage(env) as string).split('\n').at(-1)).toMatch(/^apt-get install -y redis-server clamav-daemon( chromium)?$/);
  });

  it('says nothing when everything is there (REDIS_SERVER and CLAMD_PATH are honoured, as the tests honour them)', () => {
    const dir = pathWith('redis-server', 'clamscan');
    const env = { PATH: dir, CLAMD_PATH: join(dir, 'clamscan'), REDIS_SERVER: join(dir, 'redis-server') };
    const missing = missingSystemPackages(env).map((m: { program: string }) => m.program);
    expect(missing.filter((p: string) => p !== '/usr/bin/chromium')).toEqual([]);
  });

  it('run by npm test before anything else: exits 1 at once with the apt line as its last line', async () => {
    // node itself is found by its absolute path; the PATH the check sees hides redis-server and clamscan.
    const node = join(pathWith(), 'node');
    symlinkSync(process.execPath, node);
    const started = Date.now();
    const r = await execa(node, [join(ROOT, 'test/helpers/system-deps.mjs')], {
      reject: false,
      extendEnv: false,
      env: { PATH: pathWith('clamd') },
      timeout: 10_000,
    });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n').at(-1)).toMatch(/^apt-get install -y redis-server clamav( chromium)?$/);
    expect(r.stderr).toContain('missing here: redis-server, clamscan');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
