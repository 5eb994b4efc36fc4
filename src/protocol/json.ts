import { isInteger, LosslessNumber, parse, stringify } from 'lossless-json';

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
       * Their value may be integral, but PolySwarm rejects such a bid: only digits are a JSON integer.
       */
      nonIntegerLiterals: Map<string, string>;
    }
  | { ok: false; error: string };

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

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
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
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
  if (nestedDeeperThan(text, MAX_JSON_DEPTH)) {
    return { ok: false, error: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` };
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    return { ok: false, error: `not valid JSON: ${(error as Error).message}` };
  }
  const nonIntegerLiterals = new Map<string, string>();
  const convert = (value: unknown, path: string): unknown => {
    if (value instanceof LosslessNumber) {
      const literal = value.value;
      if (isInteger(literal)) {
        const asNumber = Number(literal);
        return Number.isSafeInteger(asNumber) ? asNumber : BigInt(literal);
      }
      nonIntegerLiterals.set(path, literal);
      return Number(literal);
    }
    if (Array.isArray(value)) return value.map((item, i) => convert(item, `${path}/${i}`));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        // defineProperty, not assignment: a "__proto__" key must stay data, never become the prototype.
        Object.defineProperty(out, key, {
          value: convert(item, `${path}/${escapePointer(key)}`),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    return value;
  };
  return { ok: true, value: convert(raw, ''), nonIntegerLiterals };
}

/** JSON.stringify that writes bigints as integer digits (never a float, never an exponent). */
export function stringifyJson(value: unknown, indent?: number): string {
  const out = stringify(value, undefined, indent, [
    { test: (v: unknown) => typeof v === 'bigint', stringify: (v: unknown) => (v as bigint).toString() },
  ]);
  if (out === undefined) throw new TypeError('value cannot be serialised as JSON');
  return out;
}
