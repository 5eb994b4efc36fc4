import { randomBytes } from 'node:crypto';
import { parse } from 'lossless-json';
import { pointer } from './describe.js';

/**
 * JSON that keeps big integers exact. PolySwarm ids and bids exceed 2^53, where `JSON.parse` rounds
 * (2^64 becomes 18446744073709552000) and `JSON.stringify` cannot write a bigint at all.
 */
export type JsonParseResult =
  | {
      ok: true;
      /** Safe integers and non-integer literals are numbers; integer literals beyond 2^53 are bigints. */
      value: unknown;
      /**
       * Numbers written with a fraction or exponent (`1.0`, `1e+21`), by JSON Pointer, with their literal text.
       * Their value may be integral, but PolySwarm rejects such a bid: only digits are a JSON integer. Also integers
       * of more than MAX_EXACT_DIGITS digits (a number, not exact; the text is their start and their length).
       */
      nonIntegerLiterals: Map<string, string>;
    }
  | { ok: false; error: string };

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Integer literals up to this many digits become exact bigints (a uint256 has 78). BigInt() of a literal costs the
 * square of its length (a million digits: 0.6 s of event loop), so a longer one is read as a number and listed
 * among the non-integer literals: nothing a bounty uses can be that long (docs/protocol.md §5).
 */
export const MAX_EXACT_DIGITS = 4096;

/**
 * Nesting allowed in a document. The parser and the conversion below recurse once per level, so a few thousand
 * `[` would overflow the stack (a RangeError, i.e. a 500 for a signed webhook); no PolySwarm body comes close.
 */
export const MAX_JSON_DEPTH = 512;

/** Whether arrays and objects in `text` nest deeper than `limit` (brackets inside strings do not count). */
function nestedDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Parses JSON text or UTF-8 bytes; never throws. Errors say where the problem is. */
export function parseJson(input: string | Uint8Array): JsonParseResult {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = decoder.decode(input);
    } catch {
      return { ok: false, error: 'not valid UTF-8' };
    }
  }
  if (text.trim() === '') return { ok: false, error: 'empty body, expected a JSON document' };
  // Nesting deeper than the limit takes more brackets than a shorter text has.
  if (text.length > MAX_JSON_DEPTH && nestedDeeperThan(text, MAX_JSON_DEPTH)) {
    return { ok: false, error: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` };
  }
  // Fast path: JSON.parse (native, ~100× faster than a JS tokenizer on a 1 MiB body and without the rope strings
  // that kept ~32 MB of heap per queued bounty). Number literals JSON.parse would round or whose spelling matters
  // (integers beyond 2^53, fractions, exponents) are first swapped for marker strings, then restored exactly.
  const markers = { count: 0 };
  const marked = markNumbers(text, markers);
  let raw: unknown;
  try {
    raw = JSON.parse(marked);
  } catch {
    // Only for the error message: lossless-json says what is wrong and where, in the caller's own text.
    try {
      parse(text);
    } catch (error) {
      return { ok: false, error: `not valid JSON: ${(error as Error).message}` };
    }
    return { ok: false, error: 'not valid JSON' };
  }
  const nonIntegerLiterals = new Map<string, string>();
  if (markers.count === 0) return { ok: true, value: raw, nonIntegerLiterals };
  // The path is built only for a marker found (a JSON Pointer per value would cost more than the parse).
  const path: string[] = [];
  let left = markers.count;
  const restore = (value: unknown): unknown => {
    if (typeof value === 'string') {
      if (!value.startsWith(MARKER)) return value;
      left--;
      const literal = value.slice(MARKER.length);
      const integral = /^-?\d+$/.test(literal);
      if (integral && literal.length <= MAX_EXACT_DIGITS) return BigInt(literal);
      const shown = integral ? `${literal.slice(0, 24)}…(${literal.length} digits)` : literal;
      nonIntegerLiterals.set(pointer(...path), shown);
      return Number(literal);
    }
    if (value !== null && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        // Every marker restored: nothing further down can hold one.
        if (left === 0) break;
        const item = record[key];
        // Plain strings (no NUL first, so no marker) and scalars are skipped without touching the path.
        if (typeof item === 'string' ? item.charCodeAt(0) !== 0 : typeof item !== 'object' || item === null) continue;
        path.push(key);
        const restored = restore(item);
        path.pop();
        // A "__proto__" key must stay data, never become the prototype: defineProperty for it, assignment else.
        if (restored === item) continue;
        if (key === '__proto__')
          Object.defineProperty(record, key, { value: restored, enumerable: true, writable: true, configurable: true });
        else record[key] = restored;
      }
    }
    return value;
  };
  return { ok: true, value: restore(raw), nonIntegerLiterals };
}

/**
 * Marks the start of a number literal kept as text. The NUL is written escaped in the JSON, so it parses into the
 * string; the random part makes it impossible for a sender to forge one in a string of their own.
 */
const MARKER = `\u0000${randomBytes(8).toString('hex')}:`;
const MARKER_JSON = `\\u0000${MARKER.slice(1)}`;

const VALID_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/** Where the run of digits starting at `i` ends. */
function digitsEnd(text: string, i: number): number {
  while (i < text.length && isDigit(text.charCodeAt(i))) i++;
  return i;
}

/**
 * `text` with every number literal that JSON.parse would not keep exactly (with a fraction or exponent, or of 16
 * digits and more, and not a safe integer) turned into a marker string. One pass: strings are skipped with indexOf,
 * the text between them read a character at a time (a regex search per stretch cost 4× more on a bounty). A literal
 * starts at `-` or a digit not right after a digit, `.`, `e`, `+` or `-`; one JSON does not allow (a leading zero)
 * is left for JSON.parse to refuse.
 */
function markNumbers(text: string, markers: { count: number }): string {
  let parts: string[] | undefined;
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: its closing quote is the next one not escaped by an odd run of backslashes.
      let close = text.indexOf('"', i + 1);
      while (close !== -1) {
        let slashes = 0;
        while (text.charCodeAt(close - 1 - slashes) === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
        close = text.indexOf('"', close + 1);
      }
      if (close === -1) break;
      i = close + 1;
      continue;
    }
    const before = i === 0 ? 0 : text.charCodeAt(i - 1);
    // Not after a digit, `.`, `e`/`E`, `+` or `-`: the middle of another literal (or of junk JSON.parse refuses).
    const starts = !(isDigit(before) || before === 0x2e || before === 0x65 || before === 0x45 || before === 0x2b || before === 0x2d);
    const digitsAt = c === 0x2d ? i + 1 : i;
    if (!starts || (c !== 0x2d && !isDigit(c)) || !isDigit(text.charCodeAt(digitsAt))) {
      i++;
      continue;
    }
    let end = digitsEnd(text, digitsAt);
    const integerDigits = end - digitsAt;
    let special = integerDigits >= 16;
    if (text.charCodeAt(end) === 0x2e && isDigit(text.charCodeAt(end + 1))) {
      end = digitsEnd(text, end + 1);
      special = true;
    }
    const e = text.charCodeAt(end);
    if (e === 0x65 || e === 0x45) {
      const sign = text.charCodeAt(end + 1);
      const at = sign === 0x2b || sign === 0x2d ? end + 2 : end + 1;
      if (isDigit(text.charCodeAt(at))) {
        end = digitsEnd(text, at);
        special = true;
      }
    }
    if (special) {
      const token = text.slice(i, end);
      const integral = end - digitsAt === integerDigits;
      if (VALID_NUMBER.test(token) && !(integral && Number.isSafeInteger(Number(token)))) {
        parts ??= [];
        parts.push(text.slice(copied, i), `"${MARKER_JSON}${token}"`);
        copied = end;
        markers.count++;
      }
    }
    i = end;
  }
  if (parts === undefined) return text;
  parts.push(text.slice(copied));
  return parts.join('');
}

/** The JSON text of a bigint swapped in by stringifyJson's replacer: the marker string, quoted and escaped. */
const BIGINT_MARKED = new RegExp(`"${MARKER_JSON.replace(/\\/g, '\\\\')}(-?\\d+)"`, 'g');

/**
 * JSON.stringify that writes bigints as integer digits (never a float, never an exponent). Native JSON.stringify
 * without a replacer first (a replacer call per value tripled the cost of an answer); only a value it refuses (a
 * bigint, which throws a TypeError) is written again with each bigint swapped for a marker string, whose quoted text
 * is then replaced by the digits. (A `toJSON` or getter of such a value runs twice; a cycle throws from the second.)
 */
export function stringifyJson(value: unknown, indent?: number): string {
  let out: string | undefined;
  try {
    out = JSON.stringify(value, undefined, indent);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    out = JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? `${MARKER}${item}` : item), indent).replace(
      BIGINT_MARKED,
      '$1',
    );
  }
  if (out === undefined) throw new TypeError('value cannot be serialised as JSON');
  return out;
}

/**
 * A bigint as a string stringifyJson writes without its slow path; `unmarkBigint` then puts the digits back. For a
 * value whose one bigint is known (an answer's bid), so that the common case never throws.
 */
export function markBigint(value: bigint): string {
  return `${MARKER}${value}`;
}

/** `json` (stringifyJson's output) with the marked `value` written as its digits. */
export function unmarkBigint(json: string, value: bigint): string {
  // indexOf and slices: String.replace parses its replacement for `$` patterns on every call.
  const marked = `"${MARKER_JSON}${value}"`;
  const at = json.indexOf(marked);
  return at === -1 ? json : `${json.slice(0, at)}${value}${json.slice(at + marked.length)}`;
}
