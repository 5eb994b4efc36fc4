/**
 * Where this copy of polyswarm-engine lives, and whether it is a source checkout: `init` points a new
 * project's dependency at it so a project scaffolded from a checkout installs without a published package.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../util/package.js';

export { PACKAGE_ROOT, packageInfo } from '../util/package.js';

/** The `templates/` folder shipped with the package. */
export const TEMPLATES_ROOT = join(PACKAGE_ROOT, 'templates');

/** True when `root` is a git checkout or a source tree (it has `.git`, or `src/cli.ts` beside `package.json`). */
export function isSourceCheckout(root: string = PACKAGE_ROOT): boolean {
  return existsSync(join(root, '.git')) || (existsSync(join(root, 'src', 'cli.ts')) && existsSync(join(root, 'package.json')));
}

/**
 * The local file this copy was installed from, when npm recorded one: `npx ./polyswarm-engine-x.y.z.tgz`
 * and `npm install ../polyswarm-engine-x.y.z.tgz` leave `resolved: "file:<path>"` (relative to the
 * installing project) in the lockfile next to `node_modules`. Returns the absolute path if it still
 * exists, else null (a registry install, a global install without a lockfile, or a moved tarball).
 */
export function installedFromLocalFile(root: string = PACKAGE_ROOT): string | null {
  const modules = dirname(root);
  if (basename(modules) !== 'node_modules') return null;
  const project = dirname(modules);
  for (const lock of [join(modules, '.package-lock.json'), join(project, 'package-lock.json')]) {
    let resolved: unknown;
    try {
      const data = JSON.parse(readFileSync(lock, 'utf8')) as { packages?: Record<string, { resolved?: unknown }> };
      resolved = data.packages?.[`node_modules/${basename(root)}`]?.resolved;
    } catch {
      continue;
    }
    if (typeof resolved !== 'string') continue;
    if (!resolved.startsWith('file:')) return null;
    const path = resolve(project, resolved.slice('file:'.length));
    return existsSync(path) ? path : null;
  }
  return null;
}
