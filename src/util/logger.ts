import { bold, cyan, dim, green, red, yellow } from 'kleur/colors';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormat = 'text' | 'json';
export type LogFields = Record<string, unknown>;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  readonly level: LogLevel;
  readonly format: LogFormat;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; defaults to stderr (diagnostics), servers pass stdout. */
  stream?: NodeJS.WritableStream;
  fields?: LogFields;
  /** Prefix timestamps in text mode (servers do, one-shot commands don't). */
  timestamps?: boolean;
}

export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  const v = (value ?? '').toLowerCase();
  if (v === 'warning') return 'warn';
  return v in LEVELS ? (v as LogLevel) : fallback;
}

export function parseLogFormat(value: string | undefined, fallback: LogFormat = 'text'): LogFormat {
  const v = (value ?? '').toLowerCase();
  return v === 'json' || v === 'text' ? v : fallback;
}

/** JSON.stringify that writes bigints as digits (a string in logs) and never throws on cycles. */
function safeJson(value: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Error) return { name: v.name, message: v.message };
    if (v && typeof v === 'object') {
      if (seen.has(v)) return '[Circular]';
      seen.add(v);
    }
    return v;
  });
}

function textValue(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) || value === '' ? JSON.stringify(value) : value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return JSON.stringify(value.message);
  return safeJson(value);
}

const LEVEL_TAG: Record<Exclude<LogLevel, 'silent'>, string> = {
  debug: dim('DEBUG'),
  info: cyan('INFO '),
  warn: yellow('WARN '),
  error: red('ERROR'),
};

/** One logger for the whole tool: text for people, one JSON object a line for machines (`LOG_FORMAT=json`). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const format = options.format ?? 'text';
  const stream = options.stream ?? process.stderr;
  const base = options.fields ?? {};
  const threshold = LEVELS[level];

  const write = (lvl: Exclude<LogLevel, 'silent'>, message: string, fields?: LogFields) => {
    if (LEVELS[lvl] < threshold) return;
    const all = { ...base, ...fields };
    let line: string;
    if (format === 'json') {
      line = safeJson({ level: lvl, time: new Date().toISOString(), msg: message, ...all });
    } else {
      const pairs = Object.entries(all)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${dim(k + '=')}${textValue(v)}`)
        .join(' ');
      const time = options.timestamps ? dim(new Date().toISOString().slice(11, 23)) + ' ' : '';
      line = `${time}${LEVEL_TAG[lvl]} ${message}${pairs ? ' ' + pairs : ''}`;
    }
    stream.write(line + '\n');
  };

  return {
    level,
    format,
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

/** Theme helpers for human output (kleur honours NO_COLOR and non-TTY FORCE_COLOR rules). */
export const theme = {
  ok: (s: string) => green(s),
  fail: (s: string) => red(s),
  warn: (s: string) => yellow(s),
  dim: (s: string) => dim(s),
  bold: (s: string) => bold(s),
  accent: (s: string) => cyan(s),
  pass: green('✓'),
  cross: red('✗'),
};
