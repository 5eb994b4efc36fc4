/**
 * The commander program, built from the commands' declarations (`commands/<name>.ts`); their options are resolved
 * once by `runtime/config.ts` before they run. The one place that turns errors into exit codes (README's table).
 */
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { check } from './commands/check.js';
import { examplesText, type CommandDefinition, type OptionSpec, type OptionSpecs } from './commands/define.js';
import { demo } from './commands/demo.js';
import { init } from './commands/init.js';
import { secret } from './commands/secret.js';
import { serve } from './commands/serve.js';
import { start } from './commands/start.js';
import { sign } from './commands/sign.js';
import { test } from './commands/test.js';
import { worker } from './commands/worker.js';
import { describeSource, layersFor, longFlag, resolveOptions } from './runtime/config.js';
import { toCliError } from './runtime/engine-errors.js';
import { CliError, ExitCode } from './util/errors.js';
import { packageInfo } from './util/package.js';

/** Every command, in the order `--help` lists them. Declarations only: each `run` loads its layer when it runs. */
// biome-ignore lint/suspicious/noExplicitAny: each command has its own option types; the list only registers them.
export const COMMANDS: readonly CommandDefinition<any>[] = [init, demo, serve, start, worker, test, sign, secret, check];

function optionFor(spec: OptionSpec): Option {
  const option = new Option(spec.flags, describe(spec));
  if (spec.group) option.helpGroup(spec.group);
  if (spec.hidden) option.hideHelp();
  if (spec.choices) option.choices(spec.choices);
  if (spec.kind === 'list') option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
  else if (spec.kind === 'value' && !spec.choices) {
    option.argParser((value: string) => {
      try {
        return spec.parse(value);
      } catch (error) {
        throw new InvalidArgumentError(`${longFlag(spec)} ${(error as Error).message}.`);
      }
    });
  }
  return option;
}

/** The help line: the description, then where else the value can come from and its default. */
function describe(spec: OptionSpec): string {
  const notes: string[] = [];
  if (spec.env?.length) notes.push(`env: ${spec.env.join(', ')}`);
  const shown = spec.defaultLabel ?? (spec.kind === 'value' && spec.defaultValue !== undefined ? String(spec.defaultValue) : undefined);
  if (shown !== undefined) notes.push(`default: ${shown}`);
  return notes.length ? `${spec.description} (${notes.join('; ')})` : spec.description;
}

/** Adds `definition` (and its subcommands) to `parent` as commander commands. */
// biome-ignore lint/suspicious/noExplicitAny: registers any command, whatever its option types.
function register(parent: Command, definition: CommandDefinition<any>): Command {
  const command = parent.command(definition.name).description(definition.description);
  for (const arg of definition.args ?? []) command.argument(arg.name, arg.description, arg.defaultValue);
  for (const [key, spec] of Object.entries(definition.options as OptionSpecs)) {
    const option = optionFor(spec);
    // The key is how `run` reads the value: a declaration whose key is not commander's name for the flag is a bug.
    if (option.attributeName() !== key) throw new Error(`${definition.name}: option key ${key} does not match ${spec.flags}`);
    command.addOption(option);
  }
  const epilog = (definition.examples ? examplesText(definition.examples) : '') + (definition.epilog ?? '');
  if (epilog) command.addHelpText('after', epilog);
  for (const sub of definition.subcommands ?? []) register(command, sub);
  if (definition.run) command.action(action(definition));
  return command;
}

/** Resolves the options of `definition` (flags, environment, the project's .env, defaults) and runs it. */
// biome-ignore lint/suspicious/noExplicitAny: runs any command, whatever its option types.
function action(definition: CommandDefinition<any>) {
  return async (...params: unknown[]) => {
    const command = params[params.length - 1] as Command;
    const flags: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(command.opts())) {
      if (command.getOptionValueSource(key) === 'cli') flags[key] = value;
    }
    const dir = resolve(typeof flags.cwd === 'string' ? flags.cwd : process.cwd());
    const layers = layersFor(dir, flags);
    const specs = definition.options as OptionSpecs;
    const { values, sources, variables } = resolveOptions(specs, layers);
    const origins = Object.fromEntries(
      Object.entries(specs).map(([key, spec]) => [key, describeSource(spec, sources[key], variables[key], layers.dotenvPath)]),
    );
    const args = command.processedArgs.filter((a) => a !== undefined).flat() as string[];
    const code = await definition.run!({ args, options: values, sources, origins, name: command.name() });
    process.exitCode = typeof code === 'number' ? code : ExitCode.OK;
  };
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('polyswarm-engine')
    .description('Build, run and test PolySwarm webhook microengines.')
    .version(packageInfo().version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    // Errors come back to main() (one exit owner), for the program and every command, which inherit it.
    .exitOverride()
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false })
    .addHelpText(
      'after',
      examplesText([
        'npx polyswarm-engine init my-engine',
        'polyswarm-engine serve',
        'polyswarm-engine test bounty --eicar',
        'polyswarm-engine test all --url http://127.0.0.1:8080/ --secret qwertyuiop',
      ]) + '\nExit codes: 0 ok, 1 a check failed, 2 usage error, 3 engine unreachable, 130 interrupted.\n',
    );
  for (const definition of COMMANDS) register(program, definition);
  return program;
}

function debugEnabled(): boolean {
  return /polyswarm/.test(process.env.DEBUG ?? '');
}

/** Maps anything thrown to a message and an exit code; the only place that decides them. */
export function reportError(thrown: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  // The engine library speaks in codes; the runtime says which flag fixes each.
  const error = toCliError(thrown);
  if (error instanceof CommanderError) {
    // --help and --version exit 0; help shown because a subcommand is missing is a usage error.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.OK;
    if (error.code === 'commander.help') return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    // commander has already printed the message (and a suggestion) to stderr.
    return ExitCode.USAGE;
  }
  if (error instanceof CliError) {
    stderr.write(`Error: ${error.message}\n`);
    if (error.hint) stderr.write(`Hint: ${error.hint}\n`);
    if (debugEnabled() && error.stack) stderr.write(`${error.stack}\n`);
    return error.exitCode;
  }
  const name = (error as { name?: string } | null)?.name;
  if (name === 'ExitPromptError' || name === 'AbortPromptError') {
    stderr.write('Interrupted.\n');
    return ExitCode.INTERRUPTED;
  }
  const message = error instanceof Error ? error.message : String(error);
  stderr.write(`Error: ${message}\n`);
  if (debugEnabled() && error instanceof Error && error.stack) stderr.write(`${error.stack}\n`);
  else stderr.write('Hint: this is a bug in polyswarm-engine; run again with DEBUG=polyswarm for the stack.\n');
  return ExitCode.CHECK_FAILED;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
  } catch (error) {
    return reportError(error);
  }
}

const isEntry = process.argv[1] !== undefined && /polyswarm-engine(\.js)?$|cli\.js$/.test(process.argv[1]);
if (isEntry) {
  // `polyswarm-engine --help | head`: a reader that stops early is not an error (as with git or ls).
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      process.exit(typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK);
    });
  }
  const code = await main();
  process.exitCode = code;
  // A second Ctrl-C means now: the user's scans may hold timers that would keep the loop alive.
  if (code === ExitCode.INTERRUPTED) process.exit(code);
  // Safety net: if a handle keeps the loop alive after the command finished, do not hang the user's shell.
  setTimeout(() => {
    if (debugEnabled()) process.stderr.write('polyswarm-engine: open handles kept the process alive; exiting.\n');
    process.exit(code);
  }, 2000).unref();
}
