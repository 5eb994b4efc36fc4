/** The npm spec a new project uses for its `polyswarm-engine` dependency. */
import { isAbsolute, resolve } from 'node:path';
import { installedFromLocalFile, isSourceCheckout, packageInfo, PACKAGE_ROOT } from './package-root.js';

/** The environment variable that overrides the spec (any npm spec: a version, a tarball path, `file:`, a git URL). */
export const DEPENDENCY_ENV = 'POLYSWARM_ENGINE_DEPENDENCY';

export interface EngineDependency {
  spec: string;
  /** Why this spec: the override variable, a source checkout, the local tarball it was installed from, or the registry. */
  source: 'env' | 'checkout' | 'local' | 'registry';
}

export interface DependencyOptions {
  packageRoot?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolves a relative `file:` override (default: the current folder, where the user typed it). */
  cwd?: string;
}

/**
 * Picks the dependency spec:
 * 1. `$POLYSWARM_ENGINE_DEPENDENCY` when set (a relative `file:` path is made absolute, because npm would
 *    read it relative to the new project instead of where the user typed it);
 * 2. `file:<package root>` when this CLI runs from a source checkout, so the project installs and runs the
 *    very code that scaffolded it, unpublished;
 * 3. `file:<tarball>` when npm recorded that this copy was installed from a local file that still exists
 *    (`npx ./polyswarm-engine-x.y.z.tgz init`), so the project gets that very package;
 * 4. `^<version>` otherwise (the registry). Where npm left no trace (e.g. some global installs), set
 *    the variable.
 */
export function engineDependency(options: DependencyOptions = {}): EngineDependency {
  const root = options.packageRoot ?? PACKAGE_ROOT;
  const env = options.env ?? process.env;
  const override = env[DEPENDENCY_ENV]?.trim();
  if (override) {
    const file = /^file:(.+)$/.exec(override);
    if (file && !isAbsolute(file[1])) return { spec: `file:${resolve(options.cwd ?? process.cwd(), file[1])}`, source: 'env' };
    return { spec: override, source: 'env' };
  }
  if (isSourceCheckout(root)) return { spec: `file:${root}`, source: 'checkout' };
  const local = installedFromLocalFile(root);
  if (local) return { spec: `file:${local}`, source: 'local' };
  return { spec: `^${packageInfo(root).version}`, source: 'registry' };
}
