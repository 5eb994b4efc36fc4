/**
 * `npm ci` (CI's and a contributor's first command) refuses a lockfile that lacks an entry for any optional
 * dependency a locked package names, even one for another platform that will never be installed. `npm install`
 * leaves such an entry out when the registry has no package by that name (the macOS builds @litko/yara-x 0.3 names
 * are not on it), so the entries are kept by hand; this catches a regenerated lockfile that lost them before CI does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/bin.js';

interface Locked {
  version?: string;
  optionalDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
}

const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, Locked>;
};

/** Where npm would look for `name` from the package at `path`: its own node_modules, then each ancestor's. */
function resolve(path: string, name: string): string | undefined {
  let dir = path;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!dir) return undefined;
    const at = dir.lastIndexOf('node_modules/');
    dir = at <= 0 ? '' : dir.slice(0, at - 1);
  }
}

describe('package-lock.json', () => {
  it('has an entry for every optional dependency of every locked package (npm ci refuses otherwise)', () => {
    const missing: string[] = [];
    for (const [path, pkg] of Object.entries(lock.packages)) {
      for (const name of Object.keys(pkg.optionalDependencies ?? {})) {
        if (!resolve(path, name)) missing.push(`${name} (named by ${path || 'the root'})`);
      }
    }
    expect(missing).toEqual([]);
    // The guard reads the real shape: yara-x's own platform builds are among what it checked.
    expect(Object.keys(lock.packages['node_modules/@litko/yara-x']?.optionalDependencies ?? {})).toContain('@litko/yara-x-darwin-arm64');
  });
});
