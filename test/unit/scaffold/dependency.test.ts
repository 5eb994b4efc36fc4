import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { engineDependency } from '../../../src/scaffold/dependency.js';
import { installedFromLocalFile, isSourceCheckout, PACKAGE_ROOT } from '../../../src/scaffold/package-root.js';

const tmp = mkdtempSync(join(tmpdir(), 'pse-dep-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A folder that looks like an installed copy of the package (no .git, no src/cli.ts). */
function installedCopy(name: string, version = '1.2.3'): string {
  const root = join(tmp, name);
  mkdirSync(join(root, 'dist'), { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'polyswarm-engine', version }));
  return root;
}

describe('engineDependency', () => {
  it('points a project made from this checkout at the checkout itself', () => {
    expect(isSourceCheckout(PACKAGE_ROOT)).toBe(true);
    expect(engineDependency({ env: {} })).toEqual({ spec: `file:${PACKAGE_ROOT}`, source: 'checkout' });
  });

  it('uses the registry version for an installed copy', () => {
    const root = installedCopy('installed');
    expect(isSourceCheckout(root)).toBe(false);
    expect(engineDependency({ packageRoot: root, env: {} })).toEqual({ spec: '^1.2.3', source: 'registry' });
  });

  it('recognises a source tree without .git by src/cli.ts', () => {
    const root = installedCopy('tree');
    mkdirSync(join(root, 'src'));
    writeFileSync(join(root, 'src', 'cli.ts'), '');
    expect(engineDependency({ packageRoot: root, env: {} })).toEqual({ spec: `file:${root}`, source: 'checkout' });
  });

  it('lets $POLYSWARM_ENGINE_DEPENDENCY override everything, making relative file: paths absolute', () => {
    const root = installedCopy('override');
    const env = (value: string) => ({ POLYSWARM_ENGINE_DEPENDENCY: value });
    expect(engineDependency({ packageRoot: root, env: env('2.0.0-beta.1') })).toEqual({ spec: '2.0.0-beta.1', source: 'env' });
    expect(engineDependency({ packageRoot: root, env: env('file:../pkg.tgz'), cwd: '/home/me/work' })).toEqual({
      spec: 'file:/home/me/pkg.tgz',
      source: 'env',
    });
    expect(engineDependency({ env: env('  ') })).toEqual({ spec: `file:${PACKAGE_ROOT}`, source: 'checkout' });
  });

  it('points at the local tarball npm recorded for this copy (npx ./polyswarm-engine-x.y.z.tgz), if it still exists', () => {
    // <project>/node_modules/polyswarm-engine, installed from <tmp>/dl/polyswarm-engine-1.2.3.tgz
    const project = join(tmp, 'npx-cache');
    const root = join(project, 'node_modules', 'polyswarm-engine');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'polyswarm-engine', version: '1.2.3' }));
    mkdirSync(join(tmp, 'dl'));
    const tarball = join(tmp, 'dl', 'polyswarm-engine-1.2.3.tgz');
    const lock = (resolved: string) =>
      writeFileSync(
        join(project, 'node_modules', '.package-lock.json'),
        JSON.stringify({ packages: { 'node_modules/polyswarm-engine': { version: '1.2.3', resolved } } }),
      );
    lock('file:../dl/polyswarm-engine-1.2.3.tgz');
    expect(installedFromLocalFile(root)).toBeNull();
    expect(engineDependency({ packageRoot: root, env: {} })).toEqual({ spec: '^1.2.3', source: 'registry' });
    writeFileSync(tarball, '');
    expect(engineDependency({ packageRoot: root, env: {} })).toEqual({ spec: `file:${tarball}`, source: 'local' });
    lock('https://registry.npmjs.org/polyswarm-engine/-/polyswarm-engine-1.2.3.tgz');
    expect(engineDependency({ packageRoot: root, env: {} })).toEqual({ spec: '^1.2.3', source: 'registry' });
  });
});
