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

/** Whether `logger` writes lines of `level` (to skip building a line nobody will see). */
export function levelEnabled(logger: Pick<Logger, 'level'>, level: Exclude<LogLevel, 'silent'>): boolean {
  return LEVELS[level] >= LEVELS[logger.level];
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

/** Query strings of http(s) URLs: pre-signed artifact URLs carry credentials there (`X-Amz-Signature=…`). */
const URL_QUERY = /(\bhttps?:\/\/[^\s?#"'<>\\]*)\?[^\s#"'<>\\]*/gi;

/** `text` with the query string of every http(s) URL in it replaced by `…`. */
export function redactUrl(text: string): string {
  return text.includes('?') ? text.replace(URL_QUERY, '$1?…') : text;
}

/**
 * Characters that must not reach a log raw: C0 and C1 controls and DEL (terminal escape sequences, forged line
 * breaks), and the Unicode format characters that reorder or hide text (bidi overrides and isolates, U+2028/2029).
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same class without the global flag, whose `test` keeps no `lastIndex` between calls. */
const HAS_UNSAFE = new RegExp(UNSAFE.source);

/** `text` with unsafe characters escaped as `\uXXXX`. */
function escapeUnsafe(text: string): string {
  return HAS_UNSAFE.test(text) ? text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : text;
}

/** JSON.stringify, then the characters JSON leaves raw (DEL, C1, bidi) escaped too, and URL queries redacted. */
const quote = (value: string) => escapeUnsafe(JSON.stringify(redactUrl(value)));

/** A message in text mode: unsafe characters escaped, URL queries redacted, no quotes added. */
const safeText = (value: string) => escapeUnsafe(redactUrl(value));

const NEEDS_QUOTES = /[\s"=\\]/;

/** A field value in text mode: primitives as they are (cheap: this runs for every field of every line). */
function textValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value === '' || NEEDS_QUOTES.test(value) || HAS_UNSAFE.test(value) ? quote(value) : redactUrl(value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    default:
      if (value === null) return 'null';
      if (value instanceof Error) return quote(value.message);
      return safeText(safeJson(value));
  }
}

/** A JSON field value: primitives without the replacer machinery of safeJson. */
function jsonValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return String(value);
    case 'bigint':
      return `"${value}"`;
    default:
      return value === null ? 'null' : safeText(safeJson(value));
  }
}

/**
 * Lines for the process's own stdout/stderr are batched: a write to a pipe is a synchronous syscall that also wakes
 * its reader, and one per line cost a server a quarter of its CPU (npm run bench, figure 3); one per event-loop turn
 * still cost a busy engine a write per bounty. A line waits at most FLUSH_MS (or until FLUSH_CHARS are waiting) for
 * others to share its write; `flushLogs()` and the exit hook write out the rest. Other streams (tests pass their
 * own) are written to directly.
 */
const FLUSH_MS = 20;
const FLUSH_CHARS = 64 * 1024;

class LineBuffer {
  private pending: string[] = [];
  private length = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly flushLater = () => this.flush();
  constructor(private readonly stream: NodeJS.WritableStream) {}
  write(line: string): void {
    this.pending.push(line);
    this.length += line.length;
    if (this.length >= FLUSH_CHARS) this.flush();
    else if (this.timer === undefined) {
      // Unref'd: waiting lines never keep the process up; the exit hook writes them.
      this.timer = setTimeout(this.flushLater, FLUSH_MS);
      this.timer.unref();
    }
  }
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending.length === 0) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.length = 0;
    this.stream.write(chunk);
  }
}

const buffers = new Map<NodeJS.WritableStream, LineBuffer>();
let exitHookInstalled = false;

function sinkFor(stream: NodeJS.WritableStream): (line: string) => void {
  if (stream !== process.stdout && stream !== process.stderr) return (line) => void stream.write(line);
  let buffer = buffers.get(stream);
  if (!buffer) {
    buffer = new LineBuffer(stream);
    buffers.set(stream, buffer);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      // stdout/stderr writes are synchronous for files, pipes and terminals on exit: the last lines get out.
      process.once('exit', flushLogs);
    }
  }
  const target = buffer;
  return (line) => target.write(line);
}

/** Writes out every log line still waiting (call before writing to stdout/stderr directly). */
export function flushLogs(): void {
  for (const buffer of buffers.values()) buffer.flush();
}

let stampSecond = Number.NaN;
let stampPrefix = '';
/** `new Date().toISOString()` with the part up to the second reused: formatting a whole date cost a line more than its fields. */
function isoNow(): string {
  const ms = Date.now();
  const second = Math.floor(ms / 1000);
  if (second !== stampSecond) [stampSecond, stampPrefix] = [second, new Date(second * 1000).toISOString().slice(0, 20)];
  return `${stampPrefix}${String(ms - second * 1000).padStart(3, '0')}Z`;
}

const LEVEL_TAG: Record<Exclude<LogLevel, 'silent'>, string> = {
  debug: dim('DEBUG'),
  info: cyan('INFO '),
  warn: yellow('WARN '),
  error: red('ERROR'),
};

/** What every logger of one `createLogger` tree shares; a child adds only its fields. */
interface Output {
  level: LogLevel;
  format: LogFormat;
  threshold: number;
  timestamps: boolean;
  sink: (line: string) => void;
}

/** ` key=` as a text line shows it, per key (keys are few and repeat on every line: formatted once each). */
const keyPrefixes = new Map<string, string>();
function keyPrefix(key: string): string {
  let prefix = keyPrefixes.get(key);
  if (prefix === undefined) {
    prefix = ` ${dim(safeText(key) + '=')}`;
    if (keyPrefixes.size < 1000) keyPrefixes.set(key, prefix);
  }
  return prefix;
}

/**
 * A logger. Its methods are own, bound properties (a scan may pass `ctx.log.warn` around, or spread the logger), and
 * a child (one per bounty) shares its parent's output: it builds one small object, not a new logger.
 */
class LineLogger implements Logger {
  readonly level: LogLevel;
  readonly format: LogFormat;
  readonly #out: Output;
  readonly #base: LogFields;
  readonly #baseKeys: string[];
  constructor(out: Output, base: LogFields) {
    this.level = out.level;
    this.format = out.format;
    this.#out = out;
    this.#base = base;
    this.#baseKeys = Object.keys(base);
  }
  readonly debug = (message: string, fields?: LogFields): void => {
    if (LEVELS.debug >= this.#out.threshold) this.#write('debug', message, fields);
  };
  readonly info = (message: string, fields?: LogFields): void => {
    if (LEVELS.info >= this.#out.threshold) this.#write('info', message, fields);
  };
  readonly warn = (message: string, fields?: LogFields): void => {
    if (LEVELS.warn >= this.#out.threshold) this.#write('warn', message, fields);
  };
  readonly error = (message: string, fields?: LogFields): void => {
    if (LEVELS.error >= this.#out.threshold) this.#write('error', message, fields);
  };
  // Object.assign, not two spreads: ten times cheaper in V8, and a child is made per bounty.
  readonly child = (fields: LogFields): Logger => new LineLogger(this.#out, Object.assign({}, this.#base, fields));

  #write(lvl: Exclude<LogLevel, 'silent'>, message: string, fields: LogFields | undefined): void {
    const json = this.#out.format === 'json';
    let line = json
      ? `{"level":"${lvl}","time":"${isoNow()}","msg":${quote(message)}`
      : this.#out.timestamps
        ? `${dim(isoNow().slice(11, 23))} ${LEVEL_TAG[lvl]} ${safeText(message)}`
        : `${LEVEL_TAG[lvl]} ${safeText(message)}`;
    // Fields are appended in place, base first, then the call's own; undefined values are left out.
    const pair = (key: string, value: unknown) => {
      if (!json) line += keyPrefix(key) + textValue(value);
      else if (key !== 'level' && key !== 'time' && key !== 'msg') line += `,${quote(key)}:${jsonValue(value)}`;
    };
    for (const key of this.#baseKeys) if (!(fields && key in fields) && this.#base[key] !== undefined) pair(key, this.#base[key]);
    if (fields) for (const key in fields) if (fields[key] !== undefined) pair(key, fields[key]);
    this.#out.sink(json ? `${line}}\n` : `${line}\n`);
  }
}

/** One logger for the whole tool: text for people, one JSON object a line for machines (`LOG_FORMAT=json`). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const out: Output = {
    level,
    format: options.format ?? 'text',
    threshold: LEVELS[level],
    timestamps: options.timestamps ?? false,
    sink: sinkFor(options.stream ?? process.stderr),
  };
  return new LineLogger(out, options.fields ?? {});
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
