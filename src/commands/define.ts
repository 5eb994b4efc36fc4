/**
 * How a command declares itself: its flags, typed from the declaration (`cli.ts` makes it a commander command,
 * `runtime/config.ts` resolves the values). Loaded for every `--help`, so declarations import nothing heavy: a
 * command's `run` imports the layer it calls when it runs.
 */
import type { OptionSpecs, OptionValues, ValueSource } from '../runtime/options.js';
import { asTyped } from '../util/invocation.js';

export * from '../runtime/options.js';

export interface CommandContext<O extends OptionSpecs> {
  args: string[];
  options: OptionValues<O>;
  sources: { [K in keyof O]: ValueSource | undefined };
  /** Where each value came from, as people read it: `--secret`, `$WEBHOOK_SECRET`, `WEBHOOK_SECRET in /x/.env`. */
  origins: { [K in keyof O]: string };
  /** The (sub)command's name, e.g. `ping` for `test ping`. */
  name: string;
}

export interface CommandDefinition<O extends OptionSpecs = OptionSpecs> {
  name: string;
  description: string;
  /** `[dir]`-style positional arguments: name, description, default. */
  args?: readonly { name: string; description: string; defaultValue?: string }[];
  options: O;
  examples?: readonly string[];
  /** Text after the examples in `--help`. */
  epilog?: string;
  /** Runs the command; resolves to its exit code (0 when void). Absent on a group such as `test`. */
  run?: (context: CommandContext<O>) => Promise<number | void>;
  // biome-ignore lint/suspicious/noExplicitAny: subcommands each have their own option types.
  subcommands?: readonly CommandDefinition<any>[];
}

/** Declares a command; the identity function that makes `run`'s options typed from `options`. */
export function defineCommand<O extends OptionSpecs>(definition: CommandDefinition<O>): CommandDefinition<O> {
  return definition;
}

/** The `--help` epilog listing examples, each with the command that runs this CLI where the user stands. */
export function examplesText(lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${asTyped(l)}`).join('\n')}\n`;
}
