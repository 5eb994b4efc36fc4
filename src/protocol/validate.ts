import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { parseBounty } from './bounty.js';
import { parseJson } from './json.js';
import { SCHEMAS } from './schemas.js';
import type { FieldError } from './types.js';

/** The documents polyswarm-engine ships a JSON Schema for (`schemas/<kind>.schema.json` in the package). */
export type DocumentKind = 'assertion' | 'vote' | 'bounty' | 'metadata';
export const DOCUMENT_KINDS: readonly DocumentKind[] = ['assertion', 'vote', 'bounty', 'metadata'];

export interface ValidationResult {
  /** True when the document is valid as `kind`. */
  valid: boolean;
  /** The kind it was checked as (null when it could not be detected). */
  kind: DocumentKind | null;
  /** True when the kind was detected from the document rather than given. */
  detected: boolean;
  /** True when the input is not JSON at all (or not UTF-8); `errors` says why. */
  unreadable: boolean;
  errors: FieldError[];
  warnings: string[];
}

/** Paths that the schemas type as integers, where a literal like `1e+21` or `1.0` must be caught. */
const INTEGER_PATHS: Record<DocumentKind, RegExp> = {
  assertion: /^\/bid$/,
  vote: /^$^/,
  bounty: /^\/(id|guid|rules\/(min|max)_allowed_bid)$/,
  metadata: /^$^/,
};

/** The JSON Schema of a document kind, as shipped in the package (a fresh copy: ajv may annotate what it gets). */
export function schemaFor(kind: DocumentKind): Record<string, unknown> {
  return structuredClone(SCHEMAS[kind]);
}

let validators: Record<DocumentKind, ValidateFunction> | undefined;

/** Compiles the schemas once, on first use (ajv is not loaded on the webhook's hot path or for `--help`). */
function getValidators(): Record<DocumentKind, ValidateFunction> {
  if (validators) return validators;
  // ajv is CommonJS; createRequire avoids default-export interop differences between tsc and Node.
  // strictRequired is off because the bounty schema's anyOf branches name `id`/`guid` without redefining them.
  const require = createRequire(import.meta.url);
  const Ajv2020 = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js').default;
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  ajv.addFormat('ip', (value: string) => isIP(value) !== 0);
  const schemas = Object.fromEntries(DOCUMENT_KINDS.map((k) => [k, schemaFor(k)])) as Record<DocumentKind, object>;
  ajv.addSchema(schemas.metadata);
  validators = {
    assertion: ajv.compile(schemas.assertion),
    vote: ajv.compile(schemas.vote),
    bounty: ajv.compile(schemas.bounty),
    metadata: ajv.getSchema('urn:polyswarm-engine:schema:scan-metadata') as ValidateFunction,
  };
  return validators;
}

/**
 * Guesses what a parsed document is: `bid` → assertion, `verdict` → vote, bounty fields → bounty,
 * `malware_family` → metadata. Null when it is none of them.
 */
export function detectKind(value: unknown): DocumentKind | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const keys = new Set(Object.keys(value));
  if (keys.has('verdict')) return keys.has('bid') ? 'assertion' : 'vote';
  if (['response_url', 'artifact_uri', 'artifact_url', 'artifact_type', 'expiration'].some((k) => keys.has(k))) return 'bounty';
  if (keys.has('malware_family')) return 'metadata';
  if (keys.has('bid')) return 'assertion';
  return null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function valueAt(root: unknown, pointer: string): unknown {
  if (pointer === '') return root;
  let node: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Turns ajv's errors into one precise line each: the JSON path and what was expected, with what was found. */
function formatAjvErrors(errors: ErrorObject[], root: unknown, kind: DocumentKind): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const path = e.instancePath;
    const found = valueAt(root, path);
    switch (e.keyword) {
      case 'required': {
        const missing = (e.params as { missingProperty: string }).missingProperty;
        out.push({ path: `${path}/${missing}`, message: 'is required' });
        break;
      }
      case 'enum': {
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
        let message = `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(found)}`;
        if (typeof found === 'string' && allowed.includes(found.toLowerCase())) message += ' (verdicts are lowercase)';
        out.push({ path, message });
        break;
      }
      case 'type':
        out.push({
          path,
          message: `must be ${String((e.params as { type: string | string[] }).type).replace(',', ' or ')}, got ${describe(found)}`,
        });
        break;
      case 'false schema':
        out.push({
          path,
          message: kind === 'vote' && path === '/bid' ? 'must not be present: a Vote (arbitration) carries no bid' : 'is not allowed',
        });
        break;
      case 'format':
        out.push({
          path,
          message: `must be ${(e.params as { format: string }).format === 'ip' ? 'an IPv4 or IPv6 address' : `a valid ${(e.params as { format: string }).format}`}, got ${describe(found)}`,
        });
        break;
      case 'pattern':
        out.push({ path, message: `${e.message ?? 'does not match its pattern'}, got ${describe(found)}` });
        break;
      case 'anyOf':
      case 'allOf':
        // The branch errors already say what is missing.
        break;
      default:
        out.push({ path, message: `${e.message ?? 'is invalid'}${found === undefined ? '' : `, got ${describe(found)}`}` });
    }
  }
  return out;
}

/** Bigints become numbers for ajv, whose `integer` check only knows numbers; the type is all it needs. */
function forAjv(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(forAjv);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, forAjv(v)]));
  }
  return value;
}

/**
 * Validates a parsed document as `kind`. `nonIntegerLiterals` (from `parseJson`) lets it catch integers written
 * as `1e+21` or `1.0`, which JSON.parse would silently accept as integral numbers.
 */
export function validateValue(
  kind: DocumentKind,
  value: unknown,
  nonIntegerLiterals: ReadonlyMap<string, string> = new Map(),
): { valid: boolean; errors: FieldError[]; warnings: string[] } {
  const errors: FieldError[] = [];
  let warnings: string[] = [];
  const literalPaths = new Set<string>();
  for (const [path, literal] of nonIntegerLiterals) {
    if (INTEGER_PATHS[kind].test(path)) {
      literalPaths.add(path);
      errors.push({
        path,
        message: `must be a JSON integer written as digits, got ${literal}${kind === 'assertion' ? ' (PolySwarm rejects a float bid with 400)' : ''}`,
      });
    }
  }
  if (kind === 'bounty') {
    // The engine's own parser is the authority on what a bounty is; the schema mirrors it for other languages.
    const parsed = parseBounty(value);
    if (parsed.ok) warnings = parsed.warnings;
    else errors.push(...parsed.errors.filter((e) => !literalPaths.has(e.path)));
  } else {
    const validate = getValidators()[kind];
    if (!validate(forAjv(value))) {
      errors.push(...formatAjvErrors(validate.errors ?? [], value, kind).filter((e) => !literalPaths.has(e.path)));
    }
  }
  return { valid: errors.length === 0, errors, warnings };
}

/**
 * Parses and validates a JSON document (text or raw bytes, exactly as received) as `kind`, or as the kind
 * detected from its keys when `kind` is undefined. Never throws.
 */
export function validateDocument(kind: DocumentKind | undefined, input: string | Uint8Array): ValidationResult {
  const parsed = parseJson(input);
  if (!parsed.ok) {
    return {
      valid: false,
      kind: kind ?? null,
      detected: false,
      unreadable: true,
      errors: [{ path: '', message: parsed.error }],
      warnings: [],
    };
  }
  const actual = kind ?? detectKind(parsed.value);
  if (!actual) {
    return {
      valid: false,
      kind: null,
      detected: true,
      unreadable: false,
      errors: [{ path: '', message: 'cannot tell whether this is an assertion, vote, bounty or metadata document' }],
      warnings: [],
    };
  }
  const result = validateValue(actual, parsed.value, parsed.nonIntegerLiterals);
  return { ...result, kind: actual, detected: kind === undefined, unreadable: false };
}
