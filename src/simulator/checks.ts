import { SKIP } from '../protocol/answer.js';
import { bidRange } from '../protocol/bid.js';
import { parseJson } from '../protocol/json.js';
import type { AnswerKind, BidRules, Verdict } from '../protocol/types.js';
import { validateDocument } from '../protocol/validate.js';
import { formatDuration } from '../util/duration.js';
import type { ReceivedAnswer } from './host.js';

/** What a bounty's answer must look like. */
export interface AnswerExpectation {
  kind: AnswerKind;
  verdict: Verdict | 'any';
  rules: BidRules;
  /** Epoch ms: answers after it are late. */
  expiration: number;
}

export interface CheckOutcome {
  messages: string[];
  warnings: string[];
  /** The first answer, parsed (bigints exact), when it was JSON. */
  answer?: unknown;
}

/** Why a production engine may not reach this simulator, and what to do about it. */
const EGRESS_HINT =
  '`polyswarm-engine start` and `worker` default to --egress public, which refuses loopback and private addresses ' +
  "such as this simulator's; to test a production engine locally, run `start --egress any` (or --egress-allow 127.0.0.1)";

function short(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * Checks the answers a bounty got: exactly one, on time, a valid Assertion (or Vote) judged on its raw bytes
 * (a float bid such as `1e+21` is only visible in the text), the expected verdict, and a bid that is a JSON
 * integer within the rules (0 for unknown and suspicious).
 */
export function checkAnswers(answers: ReceivedAnswer[], expect: AnswerExpectation, waitedMs: number): CheckOutcome {
  const messages: string[] = [];
  const warnings: string[] = [];
  if (answers.length === 0) {
    messages.push(
      `no answer arrived at response_url before the bounty's expiration (${formatDuration(waitedMs)} after it was sent), nor shortly after; ` +
        'an engine must answer every unexpired bounty, with unknown and bid 0 if it cannot scan it. ' +
        `If the engine logged that its egress policy refused the answer URL: ${EGRESS_HINT}`,
    );
    return { messages, warnings };
  }
  if (answers.length > 1) {
    messages.push(`expected exactly one answer, got ${answers.length} (the second ${answers[1].at - answers[0].at} ms after the first)`);
  }
  const first = answers[0];
  if (first.at > expect.expiration) {
    messages.push(
      `the answer arrived ${first.at - expect.expiration} ms after the bounty's expiration; late answers may not count (scan deadline = expiration minus a delivery margin)`,
    );
  }
  if (first.contentType === undefined || !/^application\/([\w.+-]*\+)?json\b/i.test(first.contentType)) {
    warnings.push(
      `the answer was posted with Content-Type ${first.contentType === undefined ? '(none)' : JSON.stringify(first.contentType)}; PolySwarm expects application/json`,
    );
  }

  const json = parseJson(first.bytes);
  if (!json.ok) {
    messages.push(`the answer is not JSON (${json.error}): ${short(first.bytes)}`);
    return { messages, warnings };
  }
  const answer = json.value;
  const isObject = answer !== null && typeof answer === 'object' && !Array.isArray(answer);
  const hasBid = isObject && Object.hasOwn(answer, 'bid');

  let kind: 'assertion' | 'vote' = expect.kind;
  if (expect.kind === 'vote' && hasBid) {
    messages.push(
      'expected a Vote (verdict and metadata, no bid) for an arbitration bounty, got an Assertion with a bid. ' +
        'The Python reference engine has this known bug: it compares the phase string with an Enum member, which is ' +
        'never equal, so it always sends an Assertion; compare phase with "arbitration" case-insensitively.',
    );
    kind = 'assertion'; // still check the rest of it
  }
  const result = validateDocument(kind, first.bytes);
  for (const error of result.errors) messages.push(`${kind} ${error.path || '(document)'}: ${error.message}`);
  warnings.push(...result.warnings);
  if (!isObject) return { messages, warnings, answer };

  const record = answer as Record<string, unknown>;
  const verdict = record.verdict;
  const comments = (record.metadata as { comments?: unknown } | null | undefined)?.comments;
  if (Array.isArray(comments) && comments.includes(SKIP.EGRESS_REFUSED)) {
    messages.push(`the engine's egress policy refused to download the artifact (${SKIP.EGRESS_REFUSED}): ${EGRESS_HINT}`);
  }
  if (expect.verdict !== 'any' && typeof verdict === 'string' && verdict !== expect.verdict) {
    // The engine's own reason (SKIPPED:TIMEOUT, SKIPPED:CANNOT-FETCH, …) says why, when it gave one.
    const why = Array.isArray(comments) && comments.length > 0 ? ` (its metadata.comments: ${JSON.stringify(comments.slice(0, 3))})` : '';
    messages.push(`expected verdict ${expect.verdict}, got ${verdict}${why}`);
  }
  const bid = record.bid;
  // A float bid was reported by the schema check (from its literal); the range is checked on exact integers.
  const bidIsInteger =
    typeof bid === 'bigint' || (typeof bid === 'number' && Number.isSafeInteger(bid) && !json.nonIntegerLiterals.has('/bid'));
  if (kind === 'assertion' && bidIsInteger) {
    const wei = BigInt(bid as bigint | number);
    if (verdict === 'unknown' || verdict === 'suspicious') {
      if (wei !== 0n) messages.push(`bid must be 0 for a ${verdict} verdict, got ${wei} (unknown and suspicious are informational)`);
    } else if (verdict === 'malicious' || verdict === 'benign') {
      const { min, max } = bidRange(expect.rules);
      if (wei < min || wei > max) messages.push(`bid ${wei} is outside the bounty's rules [${min}, ${max}]`);
    }
  }
  return { messages, warnings, answer };
}
