/** `polyswarm-engine init [dir]`: scaffolds a project (scaffold/init.ts), then prints the next three commands. */
import { PACKAGE_MANAGERS, TEMPLATE_NAMES } from '../scaffold/names.js';
import { choice, defineCommand, flag, negated, text } from './define.js';

const EXPLAIN: Record<string, string> = {
  dev: 'run the engine, reloading src/ on save',
  'test:engine': 'in a second terminal: the conformance suite against it',
  test: "the project's own tests",
  install: 'install the dependencies',
};

export const init = defineCommand({
  name: 'init',
  description: 'scaffold a new engine project',
  args: [{ name: '[dir]', description: 'folder to create' }],
  options: {
    template: choice('-t, --template <name>', 'project template', TEMPLATE_NAMES),
    name: text('--name <name>', 'npm package name', { defaultLabel: 'the folder name' }),
    yes: flag('-y, --yes', 'accept defaults for everything not given'),
    install: negated('--no-install', 'do not install dependencies'),
    git: negated('--no-git', 'do not create a git repository'),
    force: flag('-f, --force', 'add the project to a non-empty folder (files already there are kept)'),
    packageManager: choice('--package-manager <pm>', 'package manager to install with', PACKAGE_MANAGERS, {
      defaultLabel: 'the one that ran this command',
    }),
  },
  examples: [
    'npx polyswarm-engine init my-engine',
    'npx polyswarm-engine init my-engine --template clamav --yes',
    'npx polyswarm-engine init . --template javascript --name acme-engine --no-install --force',
  ],
  run: ({ args, options }) => runInit(args[0], options),
});

/** Scaffolds, then prints the next three commands (stdout); progress goes to stderr. */
async function runInit(dir: string | undefined, options: Omit<import('../scaffold/init.js').InitFlags, 'dir'>): Promise<number> {
  const { initProject, resolveInitAnswers } = await import('../scaffold/init.js');
  const { theme } = await import('../util/logger.js');
  const { createPrompter, isInteractive } = await import('../util/prompts.js');
  const flags = { ...options, dir };
  const interactive = isInteractive();
  const answers = await resolveInitAnswers(flags, { interactive, prompter: interactive ? createPrompter() : undefined });
  const summary = await initProject(answers, flags, {
    progress: (line) => process.stderr.write(`${line}\n`),
    installLine: (line) => process.stderr.write(`${theme.dim(`  ${line}`)}\n`),
  });
  const width = Math.max(...summary.next.map((c) => c.length));
  const lines = summary.next.map((cmd) => {
    const key = /\brun ([\w:]+)$/.exec(cmd)?.[1] ?? (/ install$/.test(cmd) ? 'install' : / test$/.test(cmd) ? 'test' : '');
    const why = EXPLAIN[key];
    return why ? `  ${theme.accent(cmd.padEnd(width))}${theme.dim(`  # ${why}`)}` : `  ${theme.accent(cmd)}`;
  });
  const notes = summary.notes.length ? `${summary.notes.map((n) => `  ${n}`).join('\n')}\n\n` : '';
  process.stdout.write(`\n${theme.ok('Done.')} Your engine is in ${summary.answers.dir}. Next:\n\n${lines.join('\n')}\n\n${notes}`);
  return 0;
}
