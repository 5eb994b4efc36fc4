/**
 * The throwaway project behind `npm run demo`: the typescript template in a temporary folder, wired to this
 * very package by a symlink (no registry install), removed afterwards.
 */
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './package-root.js';
import { scaffoldProject } from './scaffold.js';

export interface DemoProject {
  /** The engine project folder (inside `root`). */
  dir: string;
  /** The temporary folder holding it. */
  root: string;
  cleanup(): Promise<void>;
}

/**
 * Scaffolds the typescript template into a fresh temporary folder and links
 * `node_modules/polyswarm-engine` to `packageRoot`, so the project resolves the library (and, through
 * the link's real path, its dependencies) without `npm install`.
 */
export async function createDemoProject(packageRoot: string = PACKAGE_ROOT): Promise<DemoProject> {
  const root = await mkdtemp(join(tmpdir(), 'polyswarm-engine-demo-'));
  const cleanup = () => rm(root, { recursive: true, force: true });
  try {
    const dir = join(root, 'demo-engine');
    await scaffoldProject({ template: 'typescript', targetDir: dir, packageName: 'demo-engine', dependency: `file:${packageRoot}` });
    await mkdir(join(dir, 'node_modules'));
    await symlink(packageRoot, join(dir, 'node_modules', 'polyswarm-engine'), 'dir');
    return { dir, root, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
