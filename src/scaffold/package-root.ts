/**
 * Where this copy of polyswarm-engine lives, and whether it is a source checkout: `init` points a new
 * project's dependency at it so a project scaffolded from a checkout installs without a published package.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: two levels up from this file, both from `src/scaffold/` (tests) and `dist/scaffold/`. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

/** The `templates/` folder shipped with the package. */
export const TEMPLATES_ROOT = join(PACKAGE_ROOT, 'templates');

/** This package's name and version, read from its package.json. */
export function packageInfo(root: string = PACKAGE_ROOT): { name: string; version: string } {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  return { name: pkg.name, version: pkg.version };
}

/** True when `root` is a git checkout or a source tree (it has `.git`, or `src/cli.ts` beside `package.json`). */
export function isSourceCheckout(root: string = PACKAGE_ROOT): boolean {
  return existsSync(join(root, '.git')) || (existsSync(join(root, 'src', 'cli.ts')) && existsSync(join(root, 'package.json')));
}
