/**
 * The one configuration resolver: every flag, once, before the command runs: the command line, the environment, the
 * project's `.env`, the default. Nothing else reads `process.env` for a setting that has a flag (commander's `.env()`
 * would read it before the project's `.env` is known).
 */
import { join } from 'node:path';
import { readDotEnv } from '../util/env.js';
import { UsageError } from '../util/errors.js';
import type { OptionSpec, OptionSpecs, OptionValues, ValueSource } from './options.js';

export interface ConfigLayers {
  /** Values commander parsed from the command line (only the flags actually given). */
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  /** The project's `.env`, already parsed (see `readDotEnv`). */
  dotenv: Record<string, string>;
  /** Where `dotenv` was read from, for messages. */
  dotenvPath: string;
}

export interface Resolved<O extends OptionSpecs> {
  values: OptionValues<O>;
  sources: { [K in keyof O]: ValueSource | undefined };
  /** For each value from the environment or `.env`: the variable's name (`WEBHOOK_SECRET`). */
  variables: { [K in keyof O]?: string };
}

/** The long flag of a spec (`--port`), for messages. */
export function longFlag(spec: Pick<OptionSpec, 'flags'>): string {
  return /--[\w-]+/.exec(spec.flags)?.[0] ?? spec.flags;
}

/** What a resolved value's source is called in messages and banners: `--secret`, `$WEBHOOK_SECRET`, `WEBHOOK_SECRET in /x/.env`. */
export function describeSource(
  spec: Pick<OptionSpec, 'flags'>,
  source: ValueSource | undefined,
  variable: string | undefined,
  dotenvPath: string,
): string {
  switch (source) {
    case 'flag':
      return longFlag(spec);
    case 'env':
      return `$${variable}`;
    case 'dotenv':
      return `${variable} in ${dotenvPath}`;
    default:
      return 'the default';
  }
}

/**
 * Resolves every option of `specs`. A value from the environment or `.env` is parsed like the flag's; one that does
 * not parse is a UsageError naming where it came from. An empty variable counts as unset.
 */
export function resolveOptions<O extends OptionSpecs>(specs: O, layers: ConfigLayers): Resolved<O> {
  const values: Record<string, unknown> = {};
  const sources: Record<string, ValueSource | undefined> = {};
  const variables: Record<string, string> = {};
  for (const [key, spec] of Object.entries(specs)) {
    if (key in layers.flags && layers.flags[key] !== undefined) {
      values[key] = layers.flags[key];
      sources[key] = 'flag';
      continue;
    }
    const found = lookup(spec, layers);
    if (found) {
      try {
        values[key] = spec.parse(found.text);
      } catch (error) {
        const where = found.source === 'env' ? `$${found.name}` : `${found.name} in ${layers.dotenvPath}`;
        throw new UsageError(`${where} (for ${longFlag(spec)}): ${JSON.stringify(found.text)} ${(error as Error).message}`, {
          hint: `Fix or unset ${found.name}, or pass ${longFlag(spec)}.`,
        });
      }
      sources[key] = found.source;
      variables[key] = found.name;
      continue;
    }
    values[key] = spec.defaultValue;
    sources[key] = spec.defaultValue === undefined ? undefined : 'default';
  }
  return {
    values: values as OptionValues<O>,
    sources: sources as Resolved<O>['sources'],
    variables: variables as Resolved<O>['variables'],
  };
}

function lookup(spec: OptionSpec, layers: ConfigLayers): { text: string; source: 'env' | 'dotenv'; name: string } | undefined {
  for (const source of ['env', 'dotenv'] as const) {
    for (const name of spec.env ?? []) {
      const value = layers[source][name];
      if (value !== undefined && value !== '') return { text: value, source, name };
    }
  }
  return undefined;
}

/** The layers for a command run in `dir` (the `--cwd` folder): the process environment and `dir/.env`. */
export function layersFor(dir: string, flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ConfigLayers {
  return { flags, env, dotenv: readDotEnv(dir), dotenvPath: join(dir, '.env') };
}
