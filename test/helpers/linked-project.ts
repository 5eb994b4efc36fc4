import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runBin } from './bin.js';

/**
 * A project scaffolded by the built bin (`init <name> --yes --no-install --no-git` in `parent`), with this checkout
 * linked as its `polyswarm-engine` dependency and bin instead of installed: `npm run dev`, `npm run test:engine` and
 * `npx polyswarm-engine …` then run in it as they do after `npm install`, without the registry.
 */
export async function linkedProject(parent: string, name: string, template = 'typescript'): Promise<string> {
  const r = await runBin(['init', name, '--template', template, '--yes', '--no-install', '--no-git'], { cwd: parent });
  if (r.exitCode !== 0) throw new Error(`init failed: ${r.stderr}`);
  const dir = join(parent, name);
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules', 'polyswarm-engine'), 'dir');
  symlinkSync(join('..', 'polyswarm-engine', 'bin', 'polyswarm-engine.js'), join(dir, 'node_modules', '.bin', 'polyswarm-engine'));
  // The clamav template's one other runtime dependency, from this checkout's own.
  if (template === 'clamav') symlinkSync(join(ROOT, 'node_modules', 'execa'), join(dir, 'node_modules', 'execa'), 'dir');
  return dir;
}
