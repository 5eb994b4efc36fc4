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
        // defineProperty, not assignment: a "__proto__" key must stay data, never become the prototype.
        if (restored !== item)
          Object.defineProperty(record, key, { value: restored, enumerable: true, writable: true, configurable: true });
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

/**
 * Number literals JSON.parse would not keep exactly: with a fraction or exponent, or 16 digits and more. A literal
 * never starts right after a digit, `.`, `e`, `+` or `-` (the lookbehind), so a run of digits (in a string too) is
 * tried once, at its start, not at each of its digits: 3-4 times faster on bodies of many strings or numbers.
 */
const SPECIAL_NUMBER = /(?<![\d.eE+-])(?:-?\d+(?:\.\d+)?[eE][+-]?\d+|-?\d+\.\d+|-?\d{16,})/g;
const VALID_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * `text` with every number literal that JSON.parse would not keep exactly turned into a marker string. Strings are
 * skipped with indexOf and the text between them searched by one native regex. Linear in the length of `text`: the
 * regex's next match is kept and reused while the strings before it are skipped (a search from every stretch to the
 * next match, often at the end of the text, made 20,000 strings cost 20 s), and a search starts only past the last.
 */
function markNumbers(text: string, markers: { count: number }): string {
  // Most bodies have a few: bids and limits in wei. Bodies without a long digit run or a fraction skip the scan.
  if (!/\d{16}|\d[.eE]/.test(text)) return text;
  const parts: string[] = [];
  let copied = 0;
  let at = 0;
  // The next match at or after `at` (null: none left); searched for again only once `at` has passed it.
  SPECIAL_NUMBER.lastIndex = 0;
  let next = SPECIAL_NUMBER.exec(text);
  while (at < text.length && next !== null) {
    const quote = text.indexOf('"', at);
    const stretchEnd = quote === -1 ? text.length : quote;
    while (next !== null && next.index < stretchEnd) {
      const token = next[0];
      const integral = !/[.eE]/.test(token);
      // A literal JSON does not allow (a leading zero) is left for JSON.parse to refuse; a safe integer is exact.
      if (VALID_NUMBER.test(token) && !(integral && Number.isSafeInteger(Number(token)))) {
        parts.push(text.slice(copied, next.index), `"${MARKER_JSON}${token}"`);
        copied = next.index + token.length;
        markers.count++;
      }
      next = SPECIAL_NUMBER.exec(text);
    }
    if (quote === -1) break;
    // Skip the string: its closing quote is the next one not escaped by an odd run of backslashes.
    let close = text.indexOf('"', quote + 1);
    while (close !== -1) {
      let slashes = 0;
      while (text.charCodeAt(close - 1 - slashes) === 0x5c) slashes++;
      if (slashes % 2 === 0) break;
      close = text.indexOf('"', close + 1);
    }
    if (close === -1) break;
    at = close + 1;
    // A match inside the skipped string is not a number: search again from the end of the string.
    if (next !== null && next.index < at) {
      SPECIAL_NUMBER.lastIndex = at;
      next = SPECIAL_NUMBER.exec(text);
    }
  }
  if (markers.count === 0) return text;
  parts.push(text.slice(copied));
  return parts.join('');
}

/** The JSON text of a bigint swapped in by stringifyJson's replacer: the marker string, quoted and escaped. */
const BIGINT_MARKED = new RegExp(`"${MARKER_JSON.replace(/\\/g, '\\\\')}(-?\\d+)"`, 'g');

/**
 * JSON.stringify that writes bigints as integer digits (never a float, never an exponent). Native JSON.stringify
 * (4-5× faster than a JS serializer on an answer) with each bigint swapped for a marker string, whose quoted text
 * is then replaced by the digits; a body without bigints is not searched.
 */
export function stringifyJson(value: unknown, indent?: number): string {
  let bigints = false;
  const out = JSON.stringify(
    value,
    (_key, item: unknown) => {
      if (typeof item !== 'bigint') return item;
      bigints = true;
      return `${MARKER}${item}`;
    },
    indent,
  ) as string | undefined;
  if (out === undefined) throw new TypeError('value cannot be serialised as JSON');
  return bigints ? out.replace(BIGINT_MARKED, '$1') : out;
}
