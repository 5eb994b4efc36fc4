/**
 * Small helpers shared by the protocol parsers (bounty, scan result) for precise, never-throwing error
 * messages. Internal: not re-exported from `protocol/index.ts`.
 */

const MAX_QUOTED = 80;

/**
 * How a value reads inside an error message: strings quoted (and shortened), numbers and bigints as
 * digits, containers by kind (`array`, `object`). Never throws, whatever the value (symbols included).
 */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'string': {
      const shown = value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}…` : value;
      return JSON.stringify(shown);
    }
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'undefined':
      return 'undefined';
    case 'object':
      return 'object';
    default:
      return typeof value;
  }
}

/** A JSON object: not null, not an array. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An own property only: a body's `constructor` or `toString` must not be read off Object.prototype,
 * and a `__proto__` key must not smuggle fields in.
 */
export function own(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/** Escapes one JSON Pointer segment (RFC 6901). */
export function pointer(...segments: string[]): string {
  let path = '';
  // Most segments (every key a bounty names) need no escape: no regex for them (a bounty builds several paths).
  for (const s of segments) path += s.includes('~') || s.includes('/') ? `/${s.replace(/~/g, '~0').replace(/\//g, '~1')}` : `/${s}`;
  return path;
}
