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
    const got = `, got ${describe(valueAt(root, path))}`;
    const params = e.params as { missingProperty: string; allowedValues: unknown[]; type: string | string[]; format: string };
    let message: string;
    switch (e.keyword) {
      case 'required':
        out.push({ path: `${path}/${params.missingProperty}`, message: 'is required' });
        continue;
      case 'anyOf':
      case 'allOf':
        continue; // The branch errors already say what is missing.
      case 'enum': {
        const found = valueAt(root, path);
        const lowercase = typeof found === 'string' && params.allowedValues.includes(found.toLowerCase());
        message = `must be one of ${params.allowedValues.map((a) => JSON.stringify(a)).join(', ')}${got}${lowercase ? ' (verdicts are lowercase)' : ''}`;
        break;
      }
      case 'type':
        message = `must be ${String(params.type).replace(',', ' or ')}${got}`;
        break;
      case 'false schema':
        message = kind === 'vote' && path === '/bid' ? 'must not be present: a Vote (arbitration) carries no bid' : 'is not allowed';
        break;
      case 'format':
        message = `must be ${params.format === 'ip' ? 'an IPv4 or IPv6 address' : `a valid ${params.format}`}${got}`;
        break;
      case 'pattern':
        message = `${e.message ?? 'does not match its pattern'}${got}`;
        break;
      default:
        message = `${e.message ?? 'is invalid'}${valueAt(root, path) === undefined ? '' : got}`;
    }
    out.push({ path, message });
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
  const invalid = (message: string, fields: Pick<ValidationResult, 'kind' | 'detected' | 'unreadable'>): ValidationResult => ({
    valid: false,
    ...fields,
    errors: [{ path: '', message }],
    warnings: [],
  });
  const parsed = parseJson(input);
  if (!parsed.ok) return invalid(parsed.error, { kind: kind ?? null, detected: false, unreadable: true });
  const actual = kind ?? detectKind(parsed.value);
  if (!actual) {
    const message = 'cannot tell whether this is an assertion, vote, bounty or metadata document';
    return invalid(message, { kind: null, detected: true, unreadable: false });
  }
  const result = validateValue(actual, parsed.value, parsed.nonIntegerLiterals);
  return { ...result, kind: actual, detected: kind === undefined, unreadable: false };
}
