import { initProject, resolveInitAnswers, type InitFlags } from '../scaffold/init.js';
import { theme } from '../util/logger.js';
import { createPrompter, isInteractive } from '../util/prompts.js';

/** The flags commander parsed; `dir` comes from the argument. */
type InitOptions = Omit<InitFlags, 'dir'>;

const EXPLAIN: Record<string, string> = {
  dev: 'run the engine, reloading src/ on save',
  'test:engine': 'in a second terminal: the conformance suite against it',
  test: "the project's own tests",
  install: 'install the dependencies',
};

/** `polyswarm-engine init [dir]`: scaffolds a project, then prints the next three commands (stdout). */
export async function run(args: string[], options: InitOptions): Promise<number> {
  const flags: InitFlags = { ...options, dir: args[0] };
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
  process.stdout.write(`\n${theme.ok('Done.')} Your engine is in ${summary.answers.dir}. Next:\n\n${lines.join('\n')}\n\n`);
  return 0;
}
