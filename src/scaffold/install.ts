/** Installing a new project's dependencies with the user's package manager, with visible progress. */
import { execa } from 'execa';
import { CliError } from '../util/errors.js';

export { detectPackageManager } from '../util/invocation.js';
export { PACKAGE_MANAGERS, type PackageManager } from './names.js';
import type { PackageManager } from './names.js';

/** The install command line for a package manager (npm without the audit and funding chatter). */
export function installCommand(pm: PackageManager): [string, string[]] {
  if (pm === 'npm') return ['npm', ['install', '--no-audit', '--no-fund']];
  return [pm, ['install']];
}

/** `npm run dev` / `pnpm run dev` / `yarn run dev`. */
export function runScriptCommand(pm: PackageManager, script: string): string {
  return `${pm} run ${script}`;
}

export interface InstallOptions {
  /** Called with each output line as it arrives (the command prints it dimmed). */
  onLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs the install in `dir`. On failure throws a CliError with the last lines of output and a hint to run
 * it by hand; the project itself is valid and stays.
 */
export async function installDependencies(dir: string, pm: PackageManager, options: InstallOptions = {}): Promise<void> {
  const [file, args] = installCommand(pm);
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    options.onLine?.(line);
  };
  const child = execa(file, args, {
    cwd: dir,
    reject: false,
    all: true,
    stdin: 'ignore',
    env: { ...options.env, npm_config_update_notifier: 'false' },
    lines: false,
  });
  let pending = '';
  child.all?.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split(/\r?\n/);
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') keep(line);
  });
  const result = await child;
  if (pending.trim() !== '') keep(pending);
  const hint = `Run it by hand: cd ${dir} && ${file} ${args.join(' ')}`;
  if (result.failed && (result as { code?: string }).code === 'ENOENT') {
    throw new CliError(`${file} is not installed (or not on PATH); the project was created without dependencies`, { hint });
  }
  if (result.failed) {
    // Shown already when streamed; otherwise the last lines are the only clue.
    const output = tail.length && !options.onLine ? `\n${tail.map((l) => `  ${l}`).join('\n')}` : '';
    const why = result.exitCode !== undefined ? `exited with code ${result.exitCode}` : (result.shortMessage ?? 'failed');
    throw new CliError(`${file} ${args.join(' ')} ${why}; the project was created, its dependencies were not installed${output}`, {
      hint,
    });
  }
}
