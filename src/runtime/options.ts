/**
 * A flag's declaration (`OptionSpec`) and the typed builders commands declare flags with; here because the resolver
 * (config.ts) reads them, re-exported by commands/define.ts. Loaded for every `--help`: nothing heavy.
 */
/** Where a resolved value came from, for messages (`secret from WEBHOOK_SECRET in /x/.env`). */
export type ValueSource = 'flag' | 'env' | 'dotenv' | 'default';

/**
 * One flag. `T` is the value's type once parsed; `Required` is true when the value is always present (it has a
 * default, or it is a boolean).
 */
export interface OptionSpec<T = unknown, Required extends boolean = boolean> {
  /** commander's flags, e.g. `-p, --port <port>`; the key in `options` must be the flag's camelCase name. */
  readonly flags: string;
  readonly description: string;
  /** Environment variables that set it when the flag is absent, first found wins; also read from the project's `.env`. */
  readonly env?: readonly string[];
  /** Turns the text from the command line or the environment into the value; throws an Error saying what is wrong. */
  readonly parse: (text: string) => T;
  readonly defaultValue?: T;
  /** How the default is shown in `--help` when it is not the value itself (`number of CPUs`). */
  readonly defaultLabel?: string;
  readonly choices?: readonly string[];
  /** A flag without a value (`--json`), or a `--no-…` flag whose absence means true. */
  readonly kind: 'value' | 'boolean' | 'negated' | 'list';
  /** The `--help` heading it is listed under (`Production:`); everyday flags have none and come first. */
  readonly group?: string;
  /** Accepted, not listed: an old name kept so scripts that use it still run. */
  readonly hidden?: boolean;
  /** Phantom: lets `OptionValues` tell required values from optional ones. */
  readonly required?: Required;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** The values a command's `run` receives, typed from its declaration. */
export type OptionValues<O extends OptionSpecs> = {
  [K in keyof O]: O[K] extends OptionSpec<infer T, true> ? T : O[K] extends OptionSpec<infer T, boolean> ? T | undefined : never;
};

/** What `--help` shows of a flag beyond its description: its group heading, or nothing (hidden). */
interface HelpPlacement {
  group?: string;
  hidden?: boolean;
}

interface Extra<T> extends HelpPlacement {
  env?: string | readonly string[];
  defaultLabel?: string;
  defaultValue?: T;
}

/** The bounds of a number (`max` default: the largest safe integer), given with its other settings. */
interface Range {
  min: number;
  max?: number;
}

/** A declaration's spec: its value is always present (`Required`) exactly when it has a default. */
type Declared<T, E> = OptionSpec<T, E extends { defaultValue: T } ? true : false>;

/** A value turned into `T` by `parse` (which throws an Error saying what is wrong). */
export function custom<T, E extends Extra<T> = Extra<T>>(
  flags: string,
  description: string,
  parse: (text: string) => T,
  extra: E = {} as E,
  kind: OptionSpec['kind'] = 'value',
  choices?: readonly string[],
): Declared<T, E> {
  const env = typeof extra.env === 'string' ? [extra.env] : extra.env;
  const { defaultValue, defaultLabel, group, hidden } = extra;
  return { flags, description, parse, kind, choices, env, defaultValue, defaultLabel, group, hidden } as Declared<T, E>;
}

export function text<E extends Extra<string>>(flags: string, description: string, extra?: E): Declared<string, E> {
  return custom(flags, description, (value) => value, extra);
}

/** A whole number between `min` and `max`. */
export function integer<E extends Extra<number> & Range>(flags: string, description: string, range: E): Declared<number, E> {
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const parse = (value: string) => {
    if (!/^\d+$/.test(value.trim())) throw new Error('must be a whole number');
    const n = Number(value);
    if (n < range.min || n > max) throw new Error(`must be between ${range.min} and ${max}`);
    return n;
  };
  return custom(flags, description, parse, range);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration (`500ms`, `30s`, `2m`, a bare number of seconds), in milliseconds, at least `min` (default 0). */
export function duration<E extends Extra<number> & { min?: number }>(flags: string, description: string, extra?: E): Declared<number, E> {
  const min = extra?.min ?? 0;
  const parse = (value: string) => {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
    if (!match) throw new Error('is not a duration (use e.g. 500ms, 30s, 2m; a bare number is seconds)');
    const ms = Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? 's']!);
    if (!Number.isSafeInteger(ms)) throw new Error('is too large');
    if (ms < min) throw new Error(`must be at least ${min >= 1000 ? `${min / 1000}s` : `${min}ms`}`);
    return ms;
  };
  return custom(flags, description, parse, extra);
}

const SIZE_UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** A size in bytes (`256MiB`, `512mb`, `1g`, `4096`), between `min` and `max`. */
export function size(
  flags: string,
  description: string,
  range: Extra<number> & Range & { defaultValue: number },
): OptionSpec<number, true> {
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const parse = (value: string) => {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(value);
    if (!match) throw new Error('is not a size (use e.g. 512MiB, 1GiB or a number of bytes)');
    const bytes = Math.round(Number(match[1]) * SIZE_UNITS[(match[2] ?? 'b').toLowerCase()[0]!]!);
    if (bytes < range.min || bytes > max) throw new Error(`must be between ${range.min} and ${max} bytes`);
    return bytes;
  };
  return custom(flags, description, parse, range);
}

export function choice<C extends string, E extends Extra<C> = Extra<C>>(
  flags: string,
  description: string,
  choices: readonly C[],
  extra?: E,
): Declared<C, E> {
  const parse = (value: string) => {
    const found = choices.find((c) => c === value.trim().toLowerCase());
    if (found === undefined) throw new Error(`must be one of ${choices.join(', ')}`);
    return found;
  };
  return custom(flags, description, parse, extra, 'value', choices);
}

/** A switch: true when given (or set to 1/true/yes in the environment), else false. */
export function flag(
  flags: string,
  description: string,
  extra: HelpPlacement & { env?: string | readonly string[] } = {},
): OptionSpec<boolean, true> {
  return custom(flags, description, parseBoolean, { ...extra, defaultValue: false }, 'boolean');
}

/** A `--no-…` switch: true unless given. */
export function negated(flags: string, description: string, extra: HelpPlacement = {}): OptionSpec<boolean, true> {
  return custom(flags, description, parseBoolean, { ...extra, defaultValue: true }, 'negated');
}

/** A repeatable value (`--set a=1 --set b=2`). */
export function list(flags: string, description: string, extra: HelpPlacement = {}): OptionSpec<string[], true> {
  return custom(flags, description, (value) => [value], { ...extra, defaultValue: [] as string[] }, 'list');
}

/** `specs` listed under the `--help` heading `group` (a heading ends with a colon: `Production:`). */
export function inGroup<O extends OptionSpecs>(group: string, specs: O): O {
  return Object.fromEntries(Object.entries(specs).map(([key, s]) => [key, { ...s, group }])) as O;
}

/** Environment spellings of a switch. */
export function parseBoolean(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new Error('must be true or false');
}
