/**
 * `init` while the package manager works: npm prints nothing until it is done, so init says it is still
 * installing. A stand-in `npm` on PATH takes a second and succeeds; the heartbeat is shortened to see it.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { initProject } from '../../../src/scaffold/init.js';

const tmp = mkdtempSync(join(tmpdir(), 'pse-init-progress-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it('says the install is still running while it runs, then how long it took, and gives the template notes', async () => {
  const bin = join(tmp, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'npm'), '#!/bin/sh\nsleep 1\n');
  chmodSync(join(bin, 'npm'), 0o755);
  const progress: string[] = [];
  const summary = await initProject(
    { dir: 'slow', template: 'clamav', name: 'slow' },
    { git: false, packageManager: 'npm' },
    {
      cwd: tmp,
      env: { PATH: `${bin}:${process.env.PATH}`, POLYSWARM_ENGINE_DEPENDENCY: '^0.1.0' },
      heartbeatMs: 200,
      progress: (l) => progress.push(l),
    },
  );
  expect(summary.installed).toBe(true);
  expect(progress).toContain('Installing dependencies with npm…');
  expect(progress.filter((l) => /^ {2}still installing… \(\d+ s\)$/.test(l)).length).toBeGreaterThanOrEqual(1);
  expect(progress.at(-1)).toMatch(/^ {2}installed in \d+ s$/);
  expect(summary.notes.join('\n')).toContain('sudo freshclam');
});
