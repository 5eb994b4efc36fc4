import { describe, isObject, own, pointer } from './describe.js';
import { parseJson } from './json.js';
import type { ArtifactType, BidRules, BountyData, BountyVersion, FieldError, ParseResult } from './types.js';

/**
 * The longest `id` and `phase` accepted, in UTF-8 bytes (docs/protocol.md §5). Both go into the engine's keys: the
 * journal's `p:<id>:<phase>` must stay under LMDB's key limit (1,978 bytes), where a longer one fails every time
 * (a 503 the platform retries forever), so a longer one is a 400 that says why. A PolySwarm id is a uint256 (at most
 * 78 digits) or a UUID; a phase is a word such as `assertion`.
 */
export const MAX_ID_BYTES = 1024;
export const MAX_PHASE_BYTES = 256;

/** An id as a log line shows it: whole up to 100 characters (a uint256, a UUID), else its start and its size. */
export function idForLog(id: string): string {
  return id.length <= 100 ? id : `${id.slice(0, 64)}…(${Buffer.byteLength(id)} bytes)`;
}

/** The error for a string longer than `max` UTF-8 bytes, without quoting it (it may be megabytes). */
function tooLong(text: string, max: number): string | null {
  // Cheap first: a string of at most max/3 UTF-16 units cannot exceed max bytes.
  if (text.length * 3 <= max) return null;
  const bytes = Buffer.byteLength(text);
  return bytes > max ? `is ${bytes} bytes long; at most ${max} bytes (UTF-8) are accepted` : null;
}

export interface ParseBountyOptions {
  /** The moment the bounty arrived (default: now); only used to warn about a bounty already past its expiration. */
  now?: Date;
}

/**
 * Number literals written with a fraction or exponent, by JSON Pointer (what `parseJson` reports). A `1e+21`
 * is integral as a double, but only plain digits are a JSON integer, so such a bid bound is rejected.
 */
type LiteralMap = ReadonlyMap<string, string>;

// ISO-8601 date-time as the platform, Python's isoformat() and dateutil write it: `T` or space, optional
// seconds and fraction (any length, `.` or `,`), then `Z`, `±HH:MM`, `±HHMM`, `±HH` or nothing (naive).
const ISO_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/** A parsed timestamp; `naive` when it carried no UTC offset (and was read as UTC). */
interface Timestamp {
  date: Date;
  naive: boolean;
}

/** Parses an ISO-8601 timestamp (see ISO_TIMESTAMP); fractions are truncated to milliseconds. Null if invalid. */
function parseTimestamp(text: string): Timestamp | null {
  const m = ISO_TIMESTAMP.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCDate() !== day) return null; // 2021-02-30 rolled over into March
  date.setUTCHours(hour, minute, second, ms);
  let naive = true;
  if (m[8] !== undefined) naive = false;
  else if (m[9] !== undefined) {
    naive = false;
    const offsetHours = Number(m[10]);
    const offsetMinutes = m[11] === undefined ? 0 : Number(m[11]);
    if (offsetHours > 23 || offsetMinutes > 59) return null;
    const sign = m[9] === '-' ? -1 : 1;
    date.setTime(date.getTime() - sign * (offsetHours * 60 + offsetMinutes) * 60_000);
  }
  return Number.isNaN(date.getTime()) ? null : { date, naive };
}

/** An absolute http(s) URL, or null. */
function httpUrl(text: string): URL | null {
  if (!/^https?:\/\//i.test(text)) return null;
  try {
    const url = new URL(text);
    return url.hostname === '' ? null : url;
  } catch {
    return null;
  }
}

/** A JSON integer at `path`: a bigint, or a safe-integer number not written with a fraction or exponent. */
function jsonInteger(value: unknown, path: string, literals: LiteralMap): bigint | null {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && !literals.has(path)) return BigInt(value);
  return null;
}

/** The value as an error message quotes it, preferring its literal text (`1.0`, `1e+21`) when we have it. */
function shown(value: unknown, path: string, literals: LiteralMap): string {
  return literals.get(path) ?? describe(value);
}

/**
 * Validates a bounty event body (what `parseJson` returned: big integers arrive as bigints) into BountyData.
 * Accepts the three body eras (v0 `guid`/`artifact_url`; v1 `id`/`artifact_uri`; v2 adds `duration`/`tasked_at`),
 * prefers the newer name when both are present, and ignores unknown keys. Every problem is reported with its
 * JSON Pointer path, all at once; this never throws. Warnings (not errors): an expiration without a UTC offset
 * (read as UTC), a `sha256` that is not 64 hex digits (ignored: the reference's own sample sends "asdf"), and a
 * bounty already past its expiration at `options.now`.
 */
export function parseBounty(value: unknown, options: ParseBountyOptions = {}): ParseResult<BountyData> {
  return parseBountyValue(value, options, new Map());
}

function parseBountyValue(value: unknown, options: ParseBountyOptions, literals: LiteralMap): ParseResult<BountyData> {
  if (!isObject(value)) return { ok: false, errors: [{ path: '', message: `must be a JSON object, got ${describe(value)}` }] };
  const errors: FieldError[] = [];
  const warnings: string[] = [];
  const fail = (path: string, message: string): void => {
    errors.push({ path, message });
  };

  // The v1 name wins over the v0 one; errors name the key that was actually used.
  const pick = (name: string, legacy: string): { key: string; value: unknown } => {
    const current = own(value, name);
    if (current !== undefined) return { key: name, value: current };
    const old = own(value, legacy);
    return old !== undefined ? { key: legacy, value: old } : { key: name, value: undefined };
  };

  const idField = pick('id', 'guid');
  const idPath = pointer(idField.key);
  let id = '';
  if (idField.value === undefined) fail('/id', 'is required');
  else if (typeof idField.value === 'string' && idField.value.trim() !== '') id = idField.value;
  else {
    const integer = jsonInteger(idField.value, idPath, literals);
    if (integer !== null && integer >= 0n) id = integer.toString();
    else if (typeof idField.value === 'number' && Number.isInteger(idField.value) && idField.value >= 0 && !literals.has(idPath)) {
      fail(
        idPath,
        `must be an exact integer, got ${describe(idField.value)} (beyond 2^53 it must be parsed as a bigint or sent as a string)`,
      );
    } else fail(idPath, `must be a non-negative integer or a non-empty string, got ${shown(idField.value, idPath, literals)}`);
  }
  const idTooLong = tooLong(id, MAX_ID_BYTES);
  if (idTooLong !== null) fail(idPath, idTooLong);

  let artifactType: ArtifactType | null = null;
  const rawType = own(value, 'artifact_type');
  if (rawType === undefined) fail('/artifact_type', 'is required');
  else if (typeof rawType === 'string' && /^(file|url)$/i.test(rawType)) artifactType = rawType.toLowerCase() as ArtifactType;
  else fail('/artifact_type', `must be "file" or "url" (any case), got ${describe(rawType)}`);

  const uriField = pick('artifact_uri', 'artifact_url');
  let artifactUri = '';
  if (uriField.value === undefined) fail('/artifact_uri', 'is required');
  else if (typeof uriField.value !== 'string' || uriField.value.trim() === '') {
    fail(pointer(uriField.key), `must be a non-empty string, got ${describe(uriField.value)}`);
  } else if (artifactType === 'file' && !httpUrl(uriField.value)) {
    // A URL artifact's uri is the website to scan: any string. With an invalid type, only that type is reported.
    fail(pointer(uriField.key), `must be an absolute http(s) URL for a file artifact, got ${describe(uriField.value)}`);
  } else artifactUri = uriField.value;

  const rawExpiration = own(value, 'expiration');
  const parsedExpiration = typeof rawExpiration === 'string' ? parseTimestamp(rawExpiration) : null;
  const { date: expiration, naive: expirationWasNaive } = parsedExpiration ?? { date: new Date(Number.NaN), naive: false };
  if (rawExpiration === undefined) fail('/expiration', 'is required');
  else if (!parsedExpiration) fail('/expiration', `must be an ISO-8601 timestamp, got ${describe(rawExpiration)}`);
  else if (expirationWasNaive) {
    warnings.push(`expiration ${describe(rawExpiration)} has no UTC offset; read as UTC (${expiration.toISOString()})`);
  }

  let responseUrl = '';
  const rawResponse = own(value, 'response_url');
  if (rawResponse === undefined) fail('/response_url', 'is required');
  else if (typeof rawResponse === 'string' && httpUrl(rawResponse)) responseUrl = rawResponse;
  else fail('/response_url', `must be an absolute http(s) URL, got ${describe(rawResponse)}`);

  const rules: BidRules = {};
  const rawRules = own(value, 'rules');
  if (rawRules === undefined) fail('/rules', 'is required');
  else if (!isObject(rawRules)) fail('/rules', `must be a JSON object, got ${describe(rawRules)}`);
  else {
    for (const key of Object.keys(rawRules)) {
      const path = pointer('rules', key);
      const item = rawRules[key];
      const integer = jsonInteger(item, path, literals);
      if (key === 'min_allowed_bid' || key === 'max_allowed_bid') {
        if (integer === null || integer < 0n) fail(path, `must be a non-negative integer (wei), got ${shown(item, path, literals)}`);
        else rules[key] = integer;
      } else if (integer !== null) rules[key] = integer;
      // Other non-integer rules carry nothing the engine uses: ignored, like unknown keys.
    }
    const { min_allowed_bid: min, max_allowed_bid: max } = rules;
    if (min !== undefined && max !== undefined && min > max) {
      fail('/rules', `min_allowed_bid (${min}) is greater than max_allowed_bid (${max})`);
    }
  }

  let sha256: string | null = null;
  const rawSha = own(value, 'sha256');
  if (typeof rawSha === 'string') {
    if (/^[0-9a-f]{64}$/i.test(rawSha)) sha256 = rawSha.toLowerCase();
    else warnings.push(`sha256 ${describe(rawSha)} is not 64 hex digits; ignored (the artifact is not hash-checked)`);
  } else if (rawSha !== undefined && rawSha !== null) fail('/sha256', `must be a string or null, got ${describe(rawSha)}`);

  const optionalString = (key: string): string | null => {
    const raw = own(value, key);
    if (typeof raw === 'string') return raw;
    if (raw !== undefined && raw !== null) fail(pointer(key), `must be a string or null, got ${describe(raw)}`);
    return null;
  };
  const mimetype = optionalString('mimetype');
  const phase = optionalString('phase');
  const phaseTooLong = phase === null ? null : tooLong(phase, MAX_PHASE_BYTES);
  if (phaseTooLong !== null) fail('/phase', phaseTooLong);

  const rawMetadata = own(value, 'metadata');
  const metadata = isObject(rawMetadata) ? rawMetadata : null;
  if (rawMetadata != null && metadata === null) fail('/metadata', `must be a JSON object or null, got ${describe(rawMetadata)}`);

  let duration: number | string | null = null;
  const rawDuration = own(value, 'duration');
  if (typeof rawDuration === 'string' || (typeof rawDuration === 'number' && Number.isFinite(rawDuration))) duration = rawDuration;
  // Beyond 2^53: keep the digits.
  else if (typeof rawDuration === 'bigint') duration = rawDuration.toString();
  else if (rawDuration != null) fail('/duration', `must be a number, a string or null, got ${describe(rawDuration)}`);

  const rawTaskedAt = own(value, 'tasked_at');
  const taskedAt = typeof rawTaskedAt === 'string' ? (parseTimestamp(rawTaskedAt)?.date ?? null) : null;
  if (rawTaskedAt != null && taskedAt === null) {
    fail('/tasked_at', `must be an ISO-8601 timestamp or null, got ${describe(rawTaskedAt)}`);
  }

  // A null artifactType always came with an error; the second test only narrows the type.
  if (errors.length > 0 || artifactType === null) return { ok: false, errors };

  const now = options.now ?? new Date();
  if (expiration.getTime() <= now.getTime()) {
    warnings.push(`expired on arrival: expiration ${expiration.toISOString()} is ${now.getTime() - expiration.getTime()} ms before now`);
  }

  const version: BountyVersion =
    idField.key === 'guid' ? 'v0' : own(value, 'duration') !== undefined || own(value, 'tasked_at') !== undefined ? 'v2' : 'v1';
  return {
    ok: true,
    warnings,
    value: {
      id,
      artifact_type: artifactType,
      artifact_uri: artifactUri,
      expiration,
      expiration_was_naive: expirationWasNaive,
      response_url: responseUrl,
      rules,
      sha256,
      mimetype,
      phase,
      answer_kind: phase !== null && /^(arbitration|vote)$/i.test(phase) ? 'vote' : 'assertion',
      metadata,
      duration,
      tasked_at: taskedAt,
      version,
    },
  };
}

/**
 * Parses and validates a raw bounty body (bytes as received, or text). Invalid JSON (or UTF-8) is one error at
 * path `` saying `body is not valid JSON: …`. An id or bid bound written as `1.0` or `1e+21` is rejected: only plain
 * digits are a JSON integer. Never throws.
 */
export function parseBountyBody(body: Uint8Array | string, options: ParseBountyOptions = {}): ParseResult<BountyData> {
  const json = parseJson(body);
  if (!json.ok) {
    return { ok: false, errors: [{ path: '', message: `body is not valid JSON: ${json.error.replace(/^not valid JSON: /, '')}` }] };
  }
  return parseBountyValue(json.value, options, json.nonIntegerLiterals);
}

export interface BountyToWireOptions {
  /** Write the v0 names (`guid`, `artifact_url`, every field present). Default: whether the bounty was a v0 body. */
  legacy?: boolean;
}

/**
 * The wire body of a bounty, for senders (the `test` simulator): serialise it with `stringifyJson` so bigints
 * stay exact. An id of canonical digits (`0` or no leading zero) is written as a JSON integer, as the
 * platform sends ids; any other id stays a string. Expiration and tasked_at are ISO-8601 with `Z`, except
 * that an expiration that came without an offset is written without one again (so `parseBounty` of the
 * result gives back the same BountyData). v2's `duration`/`tasked_at` are written for v2 bounties or when set.
 */
export function bountyToWire(bounty: BountyData, options: BountyToWireOptions = {}): Record<string, unknown> {
  const legacy = options.legacy ?? bounty.version === 'v0';
  const id = /^(0|[1-9]\d*)$/.test(bounty.id) ? BigInt(bounty.id) : bounty.id;
  // Python's isoformat() without an offset, for a bounty whose expiration came naive.
  const iso = bounty.expiration.toISOString();
  const expiration = bounty.expiration_was_naive ? iso.slice(0, -1) : iso;
  const rules: Record<string, bigint> = {};
  for (const [key, rule] of Object.entries(bounty.rules)) if (rule !== undefined) rules[key] = rule;
  if (legacy) {
    // The v0 order and field set (the README sample): every field present.
    return {
      guid: id,
      artifact_type: bounty.artifact_type,
      artifact_url: bounty.artifact_uri,
      sha256: bounty.sha256,
      mimetype: bounty.mimetype,
      expiration,
      phase: bounty.phase,
      response_url: bounty.response_url,
      rules,
    };
  }
  const body: Record<string, unknown> = {
    id,
    artifact_type: bounty.artifact_type,
    artifact_uri: bounty.artifact_uri,
    expiration,
    response_url: bounty.response_url,
    rules,
    sha256: bounty.sha256,
    mimetype: bounty.mimetype,
    phase: bounty.phase,
    metadata: bounty.metadata,
  };
  if (bounty.version === 'v2' || bounty.duration !== null || bounty.tasked_at !== null) {
    body.duration = bounty.duration;
    body.tasked_at = bounty.tasked_at === null ? null : bounty.tasked_at.toISOString();
  }
  return body;
}

/** Whether the bounty's answer is no longer due: `now` is at or past its expiration. */
export function isExpired(bounty: Pick<BountyData, 'expiration'>, now: Date = new Date()): boolean {
  return now.getTime() >= bounty.expiration.getTime();
}

/** Milliseconds left until the bounty's expiration (negative once it has passed). */
export function msUntilExpiration(bounty: Pick<BountyData, 'expiration'>, now: Date = new Date()): number {
  return bounty.expiration.getTime() - now.getTime();
}
