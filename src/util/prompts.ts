/**
 * Interactive questions (the only importer of `@inquirer/prompts`). Every question has a flag: with no terminal (or
 * `CI` set) a missing answer is a UsageError naming the flags, never a prompt waiting forever on a pipe.
 */
import { Writable } from 'node:stream';
import { input, select } from '@inquirer/prompts';
import { UsageError } from './errors.js';

/** Asks questions on a terminal (or injected streams). Only create one when `isInteractive()` says so. */
export interface Prompter {
  /** `validate`: `true` when the answer is acceptable, else the message shown under the prompt. */
  text(question: { message: string; default?: string; validate?: (value: string) => true | string }): Promise<string>;
  select<T extends string>(question: {
    message: string;
    choices: readonly { value: T; name?: string; description?: string }[];
    default?: T;
  }): Promise<T>;
}

/** Whether questions can be asked: stdin and stdout are terminals and `CI` is unset (CI may attach a pseudo-terminal). */
export function isInteractive(
  env: NodeJS.ProcessEnv = process.env,
  stdin: { isTTY?: boolean } = process.stdin,
  stdout: { isTTY?: boolean } = process.stdout,
): boolean {
  const ci = env.CI;
  if (ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false') return false;
  return Boolean(stdin.isTTY && stdout.isTTY);
}

/** A Prompter over @inquirer/prompts; `streams` (tests inject their own) default to the process's stdin/stdout. */
export function createPrompter(streams: { input?: NodeJS.ReadableStream; output?: NodeJS.WritableStream } = {}): Prompter {
  // A prompt ends its output stream when it closes: an injected one writes through a throwaway forwarder.
  const context = () => {
    const target = streams.output;
    const output = target
      ? new Writable({
          write(chunk: Buffer, _encoding, callback) {
            target.write(chunk, () => callback());
          },
        })
      : undefined;
    return { input: streams.input, output };
  };
  return {
    text: (q) => input({ message: q.message, default: q.default, validate: q.validate }, context()),
    select: (q) => select({ message: q.message, choices: q.choices.map((c) => ({ ...c })), default: q.default }, context()),
  };
}

export interface MissingValue {
  /** How to give it on the command line, e.g. `--template <typescript|javascript|clamav>` or `[dir]`. */
  flag: string;
  /** What it is, for the message. */
  description: string;
}

/** The error for values nobody can be asked for, every missing flag at once; `yesFlag` accepts the defaults instead. */
export function missingValuesError(command: string, missing: readonly MissingValue[], yesFlag?: string): UsageError {
  const list = missing.map((m) => `  ${m.flag}  ${m.description}`).join('\n');
  const hint = yesFlag
    ? `Pass them, or ${yesFlag} to accept the defaults (prompts are only shown on a terminal without CI set).`
    : 'Pass them on the command line (prompts are only shown on a terminal without CI set).';
  return new UsageError(`${command}: missing ${missing.length === 1 ? 'a value' : 'values'} and no terminal to ask on:\n${list}`, {
    hint,
  });
}
