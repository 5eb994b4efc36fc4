/** This package's root folder and package.json, read once (`--version`, the `serve` banner, `init`). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: two levels up from this file, both from `src/util/` (tests) and `dist/util/`. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

export interface PackageInfo {
  name: string;
  version: string;
}

let cached: PackageInfo | undefined;

/** The name and version in the package.json at `root` (this package's own, read once, by default). */
export function packageInfo(root?: string): PackageInfo {
  if (root === undefined && cached) return cached;
  const pkg = JSON.parse(readFileSync(join(root ?? PACKAGE_ROOT, 'package.json'), 'utf8')) as PackageInfo;
  const info = { name: pkg.name, version: pkg.version };
  if (root === undefined) cached = info;
  return info;
}
