/**
 * How the user can type this CLI where they stand, for `--help` examples and the "next steps" of `init` and `demo`:
 * a bare `polyswarm-engine` is not found inside a project, and `npx polyswarm-engine` asks the registry for a package
 * a clone has not published. The package manager comes from `npm_config_user_agent`, as in create-vite.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';

/** The package managers `init` installs with (scaffold/names.ts lists them for its flag). */
export type PackageRunner = 'npm' | 'pnpm' | 'yarn';

/** The package manager that launched us (`npm_config_user_agent`, e.g. `pnpm/9.1.0 npm/? node/v20…`), else npm. */
export function detectPackageManager(env: NodeJS.ProcessEnv = process.env): PackageRunner {
  const agent = env.npm_config_user_agent ?? '';
  if (agent.startsWith('pnpm/')) return 'pnpm';
  if (agent.startsWith('yarn/')) return 'yarn';
  return 'npm';
}

const RUN_PACKAGE: Record<PackageRunner, string> = {
  npm: 'npx polyswarm-engine',
  pnpm: 'pnpm exec polyswarm-engine',
  yarn: 'yarn polyswarm-engine',
};

/**
 * The command that runs this CLI for a user in `cwd`, from the script node was given (`argv1`): under `node_modules`,
 * `npx polyswarm-engine` (or its package manager's); a checkout's `bin/polyswarm-engine.js`, `node <its path from
 * cwd>`; anything else (a global install, `npm link`), `polyswarm-engine`.
 */
export function cliCommand(argv1: string | undefined = process.argv[1], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (!argv1) return 'polyswarm-engine';
  if (argv1.split(/[\\/]/).includes('node_modules')) return RUN_PACKAGE[detectPackageManager(env)];
  const checkout = dirname(dirname(argv1));
  if (basename(argv1) === 'polyswarm-engine.js' && existsSync(join(checkout, 'package.json'))) {
    const path = relative(cwd, argv1);
    const shown = !isAbsolute(path) && path.length < argv1.length ? path : argv1;
    return `node ${/\s/.test(shown) ? JSON.stringify(shown) : shown}`;
  }
  return 'polyswarm-engine';
}

/** `text` with each command-position `polyswarm-engine` / `npx polyswarm-engine` replaced by `cliCommand()`. */
export function asTyped(text: string, command: string = cliCommand()): string {
  return text.replace(/(^|[\s(|;&])(?:npx )?polyswarm-engine(?= |$)/gm, (_m, before: string) => `${before}${command}`);
}
