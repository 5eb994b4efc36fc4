import { describe, isObject, own, pointer } from './describe.js';
import { markBigint, stringifyJson, unmarkBigint } from './json.js';
import { buildScanMetadata, type BuildScanMetadataOptions } from './metadata.js';
import { VERDICTS } from './types.js';
import type { Answer, Assertion, BountyData, FieldError, ParseResult, ScanResult, Vote } from './types.js';

/** The `metadata.comments` reasons of an `unknown` answer the engine gives on the author's behalf. */
export const SKIP = {
  CANNOT_FETCH: 'SKIPPED:CANNOT-FETCH',
  /** The artifact host is a destination the engine's egress policy does not allow (docs/protocol.md). */
  EGRESS_REFUSED: 'SKIPPED:EGRESS-REFUSED',
  TIMEOUT: 'SKIPPED:TIMEOUT',
  HASH_MISMATCH: 'SKIPPED:HASH-MISMATCH',
  TOO_LARGE: 'SKIPPED:TOO-LARGE',
  TYPE_UNSUPPORTED: 'SKIPPED:TYPE-UNSUPPORTED',
  SHUTDOWN: 'SKIPPED:SHUTDOWN',
} as const;

const MAX_COMMENT = 200;

/** `ERROR:<message>` on one line (whitespace runs collapsed), at most 200 characters (cut with `…`). */
export function errorComment(message: string): string {
  const comment = `ERROR:${String(message).replace(/\s+/g, ' ').trim()}`;
  return comment.length <= MAX_COMMENT ? comment : `${comment.slice(0, MAX_COMMENT - 1)}…`;
}

/** The `unknown` result (bid 0) for a bounty the engine could not or would not scan, with the reason as a comment. */
export function unknownResult(comment: string): ScanResult {
  return { verdict: 'unknown', confidence: 0, metadata: { comments: [comment] } };
}

export type NormalizedScanResult = Required<Pick<ScanResult, 'verdict'>> & ScanResult;

const KNOWN_RESULT_KEYS = new Set(['verdict', 'confidence', 'metadata']);
const VERDICT_LIST = VERDICTS.map((v) => JSON.stringify(v)).join(', ');

/**
 * Checks what an author's `scan` returned. It must be an object with a `verdict` among the four lowercase verdicts;
 * `confidence`, when present, a finite number (clamped into [0, 1] with a warning; absent means 1, as in the
 * reference); `metadata`, when present, an object whose standard keys have their ScanMetadata types. Unknown
 * top-level keys (e.g. a `bid`: bids come from `computeBid`) are ignored with a warning. Never throws.
 */
export function normalizeScanResult(value: unknown): ParseResult<NormalizedScanResult> {
  if (!isObject(value)) {
    return { ok: false, errors: [{ path: '', message: `must be an object with a verdict, got ${describe(value)}` }] };
  }
  const errors: FieldError[] = [];
  const warnings: string[] = [];

  const verdict = own(value, 'verdict');
  if (verdict === undefined) errors.push({ path: '/verdict', message: 'is required' });
  else if (typeof verdict === 'string' && (VERDICTS as readonly string[]).includes(verdict.toLowerCase())) {
    if (verdict !== verdict.toLowerCase()) {
      errors.push({
        path: '/verdict',
        message: `verdicts are lowercase: use ${JSON.stringify(verdict.toLowerCase())}, got ${describe(verdict)}`,
      });
    }
  } else errors.push({ path: '/verdict', message: `must be one of ${VERDICT_LIST}, got ${describe(verdict)}` });

  let confidence = 1;
  const rawConfidence = own(value, 'confidence');
  if (rawConfidence !== undefined) {
    if (typeof rawConfidence !== 'number' || !Number.isFinite(rawConfidence)) {
      errors.push({ path: '/confidence', message: `must be a finite number between 0 and 1, got ${describe(rawConfidence)}` });
    } else if (rawConfidence < 0 || rawConfidence > 1) {
      confidence = Math.min(Math.max(rawConfidence, 0), 1);
      warnings.push(`confidence ${rawConfidence} is outside [0, 1]; clamped to ${confidence}`);
    } else confidence = rawConfidence;
  }

  const metadata = own(value, 'metadata');
  if (metadata !== undefined && metadata !== null) {
    if (!isObject(metadata)) errors.push({ path: '/metadata', message: `must be an object, got ${describe(metadata)}` });
    else errors.push(...checkMetadata(metadata));
  }

  for (const key of Object.keys(value)) {
    if (!KNOWN_RESULT_KEYS.has(key))
      warnings.push(`scan result key ${JSON.stringify(key)} is ignored (only verdict, confidence, metadata are used)`);
  }

  if (errors.length > 0) return { ok: false, errors };
  const result: NormalizedScanResult = { verdict: verdict as NormalizedScanResult['verdict'], confidence };
  if (isObject(metadata)) result.metadata = { ...metadata };
  return { ok: true, value: result, warnings };
}

/** Type checks of the standard ScanMetadata keys an author set (the extra keys are free). */
function checkMetadata(metadata: Record<string, unknown>): FieldError[] {
  const errors: FieldError[] = [];
  const at = (key: string, message: string): void => {
    errors.push({ path: pointer('metadata', key), message });
  };
  const family = own(metadata, 'malware_family');
  if (family !== undefined && typeof family !== 'string') at('malware_family', `must be a string, got ${describe(family)}`);
  for (const key of ['domains', 'ip_addresses', 'comments']) {
    const list = own(metadata, key);
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list) || list.some((item) => typeof item !== 'string')) {
      at(key, `must be an array of strings, got ${Array.isArray(list) ? 'an array with a non-string item' : describe(list)}`);
    }
  }
  const stix = own(metadata, 'stix');
  if (stix !== undefined && stix !== null && !Array.isArray(stix)) at('stix', `must be an array, got ${describe(stix)}`);
  const scanner = own(metadata, 'scanner');
  if (scanner !== undefined && scanner !== null && !isObject(scanner)) at('scanner', `must be an object, got ${describe(scanner)}`);
  const heuristic = own(metadata, 'heuristic');
  if (heuristic !== undefined && heuristic !== null && typeof heuristic !== 'boolean') {
    at('heuristic', `must be a boolean, got ${describe(heuristic)}`);
  }
  return errors;
}

/**
 * The answer to post: a Vote `{verdict, metadata}` when the bounty is in arbitration (`answer_kind` 'vote'),
 * else an Assertion `{verdict, bid, metadata}`. `bid` is used as given (see `finalBid`); metadata is completed
 * by `buildScanMetadata`.
 */
export function buildAnswer(bounty: BountyData, result: ScanResult, bid: bigint, options: BuildScanMetadataOptions = {}): Answer {
  const metadata = buildScanMetadata(result.metadata, options);
  if (bounty.answer_kind === 'vote') return { verdict: result.verdict, metadata } satisfies Vote;
  return { verdict: result.verdict, bid, metadata } satisfies Assertion;
}

/** Whether an answer is a Vote (it has no `bid`). */
export function isVote(answer: Answer): answer is Vote {
  return (answer as Partial<Assertion>).bid === undefined;
}

/**
 * The compact JSON body of an answer, keys in the reference's order: `verdict`, `bid` (integer digits, exact at
 * any size: never a float or an exponent; Assertions only), `metadata`. A non-integer `number` bid from untyped
 * code is a programming error (PolySwarm rejects a float bid with 400) and throws a TypeError.
 */
export function serializeAnswer(answer: Answer): string {
  // Not `isVote` for narrowing: an Assertion is structurally a Vote too, so the else branch would be `never`.
  const bid: unknown = (answer as Partial<Assertion>).bid;
  if (bid === undefined) return stringifyJson({ verdict: answer.verdict, metadata: answer.metadata });
  const wei = typeof bid === 'number' && Number.isSafeInteger(bid) ? BigInt(bid) : bid;
  if (typeof wei !== 'bigint') throw new TypeError(`bid must be an integer (bigint wei), got ${describe(bid)}`);
  return unmarkBigint(stringifyJson({ verdict: answer.verdict, bid: markBigint(wei), metadata: answer.metadata }), wei);
}
