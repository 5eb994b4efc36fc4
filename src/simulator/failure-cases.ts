/**
 * The failure paths of `test all`: what an engine must do when PolySwarm's side misbehaves (the artifact host
 * fails, the file is not the one `sha256` names), when a request is malformed below the JSON (signature headers
 * that cannot be signatures), and at the edges (an expiration decades away, twenty bounties at once, a body at
 * the size limit). docs/protocol.md §13: every accepted, unexpired bounty gets exactly one answer before its
 * expiration, `unknown` with bid 0 when the engine cannot decide.
 */
import { stringifyJson } from '../protocol/json.js';
import { sign } from '../protocol/signature.js';
import { benignArtifact, eicarArtifact } from './artifacts.js';
import { prepareBounty } from './bounty.js';
import { EMPTY, eicarWire, expectStatus, outcome, runBountyCase, scanError, type CaseDefinition, type CaseOutcome } from './cases.js';
import { checkAnswers } from './checks.js';
import { bodyQuote, CaseRequestError, explain401, isJsonBody, sendEvent } from './context.js';
import type { EngineRequest, RunContext, SentResponse } from './context.js';
import { WATCH_GRACE_MS } from './dispatch.js';
import type { ArtifactFault } from './host.js';

const FAULTS: Record<string, { fault: ArtifactFault; what: string; reason: string }> = {
  '404': { fault: 404, what: 'answers 404', reason: 'SKIPPED:CANNOT-FETCH' },
  '500': { fault: 500, what: 'answers 500', reason: 'SKIPPED:CANNOT-FETCH' },
  reset: { fault: 'reset', what: 'resets the connection', reason: 'SKIPPED:CANNOT-FETCH' },
  hang: { fault: 'hang', what: 'never answers', reason: 'SKIPPED:TIMEOUT' },
};

/**
 * The hang case's expiration: long enough for any engine's scan deadline (ours answers 2 s before, docs/protocol.md
 * §6), short enough that it does not set the length of `test all` (every other case is done in about 2 s).
 */
const HANG_EXPIRATION_MS = 6_000;

/** The artifact host fails: exactly one answer, `unknown` with bid 0, before the expiration. */
export function artifactFaultCase(key: keyof typeof FAULTS): CaseDefinition {
  const { fault, what, reason } = FAULTS[key];
  return {
    name: `artifact host ${what} → one unknown answer, bid 0`,
    run: (ctx) =>
      runBountyCase(ctx, {
        // A hash an engine may check; the host never serves the bytes anyway.
        set: { artifact_uri: ctx.host.hostFault(fault), sha256: eicarArtifact().sha256 },
        // The hang lasts until the engine's scan deadline: at most 6 s of the run, whatever --expiration says.
        expirationMs: fault === 'hang' ? Math.min(ctx.expirationMs, HANG_EXPIRATION_MS) : undefined,
        expect: 'unknown',
        about:
          `the artifact host ${what}${fault === 'hang' ? ' past the scan deadline' : ''}; an engine that cannot fetch the file must still answer ` +
          `before the expiration, exactly once, with verdict unknown and bid 0 (e.g. metadata.comments ["${reason}"]): catch the download error ` +
          `${fault === 'hang' ? 'and bound the download by the scan deadline ' : ''}instead of dropping the bounty or guessing a verdict`,
      }),
  };
}

/** The bytes served are EICAR, the bounty's sha256 names another file: scanning them anyway is a warning. */
export const hashMismatchCase: CaseDefinition = {
  name: 'artifact bytes do not match sha256 → unknown (warning otherwise)',
  async run(ctx) {
    const out = await runBountyCase(ctx, { artifact: 'eicar', set: { sha256: benignArtifact().sha256 }, expect: 'any' });
    const verdict = (out.answer as { verdict?: unknown } | undefined)?.verdict;
    if (out.messages.length === 0 && typeof verdict === 'string' && verdict !== 'unknown') {
      out.warnings.push(
        `the engine answered ${verdict} for a file whose bytes do not match the bounty's sha256: it scanned another file than the one ` +
          'PolySwarm asked about; compare the sha256 of the downloaded bytes and answer unknown, bid 0 on a mismatch (SKIPPED:HASH-MISMATCH)',
      );
    }
    return out;
  },
};

/** A value made of UTF-8 bytes, as node writes header values (one byte per character). */
const wireBytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

/**
 * A signature header that cannot be a signature (docs/protocol.md §4: not 64 hex digits means "does not match"): a 4xx,
 * JSON wanted, never a 2xx or a 5xx, and the engine still answers a ping afterwards.
 */
function malformedSignatureCase(name: string, what: string, header: (signature: string) => string | string[]): CaseDefinition {
  return {
    name,
    async run(ctx) {
      const out = outcome();
      const body = prepareBounty(eicarWire(ctx)).bytes;
      const fix =
        'a signature header that is not 64 hex digits is the sender\'s error: answer 401 {"X-POLYSWARM-SIGNATURE": "Signature does not match body"}';
      const res = await sendOrReason(ctx, { event: 'bounty', body, signature: header(sign(ctx.secret, body)), json: true });
      if (typeof res === 'string') out.messages.push(`the engine dropped ${what} without an HTTP answer (${res}); ${fix}`);
      else if (res.status >= 200 && res.status <= 299)
        out.messages.push(`the engine accepted a bounty with ${what} (answered ${res.status}); ${fix}`);
      else if (res.status >= 500) {
        out.messages.push(
          `the engine answered ${res.status} to ${what}: ${bodyQuote(res)}; ${fix} (the Python reference answers a non-ASCII signature ` +
            'with a 500: hmac.compare_digest raises TypeError on a non-ASCII str; compare bytes, or check the header is hex first)',
        );
      } else if (res.status < 400) out.messages.push(`expected a 4xx answer to ${what}, got ${res.status}: ${bodyQuote(res)}; ${fix}`);
      else if (!isJsonBody(res))
        out.warnings.push(`the ${res.status} body is not JSON (${res.headers['content-type'] ?? 'no Content-Type'}): ${bodyQuote(res)}`);
      await stillServing(ctx, out, what);
      return out;
    },
  };
}

/** Sends an event; a request dropped without an HTTP answer (after the engine answered others) gives the reason instead. */
async function sendOrReason(ctx: RunContext, request: EngineRequest): Promise<SentResponse | string> {
  try {
    return await sendEvent(ctx, request);
  } catch (error) {
    if (!(error instanceof CaseRequestError)) throw error;
    return error.message.replace(/^.*: /, '');
  }
}

/** After a hostile request: a signed ping must still get a 2xx. */
async function stillServing(ctx: RunContext, out: CaseOutcome, after: string): Promise<void> {
  const ping = await sendOrReason(ctx, { event: 'ping', body: EMPTY, json: false });
  if (typeof ping === 'string') out.messages.push(`after ${after}, the engine stopped serving: a signed ping got no answer (${ping})`);
  else expectStatus(ctx, out, ping, 200, `after ${after}, a signed ping got ${ping.status} instead of 2xx: ${bodyQuote(ping)}`);
}

export const signatureHeaderCases: CaseDefinition[] = [
  malformedSignatureCase('security: non-ASCII signature header → 4xx, still serving', 'a signature header with non-ASCII bytes', (s) =>
    wireBytes(`${s.slice(0, 62)}é`),
  ),
  malformedSignatureCase('security: 8 KiB signature header → 4xx, still serving', 'an 8 KiB signature header', (s) => s.repeat(128)),
  malformedSignatureCase(
    'security: two signature headers → 4xx, still serving',
    'two X-POLYSWARM-SIGNATURE headers (the right one first)',
    (s) => [s, sign(`${s}-other`, s)],
  ),
];

/** The reference's own fixture expires in 2121: an engine must scan it like any other, not time it out. */
export const farExpirationCase: CaseDefinition = {
  name: 'bounty: expiration in 2121 → a real verdict',
  run: (ctx) =>
    runBountyCase(ctx, {
      artifact: 'eicar',
      expiresAt: new Date('2121-01-01T00:00:00Z'),
      answerWithinMs: ctx.expirationMs,
      about:
        "the bounty expires in 2121, as in the Python reference's own test fixture; a deadline armed with setTimeout(expiration − now) " +
        'overflows past 2^31−1 ms (24.8 days) and fires at once, so the scan is cut and answered unknown, or the answer never comes: ' +
        'cap each timer at 2^31−1 ms and re-arm it',
    }),
};

const CONCURRENT = 20;

/** Twenty bounties sent at once (EICAR and benign, alternately): each answered exactly once, correctly. */
export const concurrentCase: CaseDefinition = {
  name: `bounty: ${CONCURRENT} at once → each answered exactly once`,
  async run(ctx) {
    const out = outcome();
    const results = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) =>
        runBountyCase(ctx, { artifact: i % 2 === 0 ? 'eicar' : 'benign' }).catch((error: unknown) => {
          if (error instanceof CaseRequestError) return { messages: [error.message], warnings: [] } as CaseOutcome;
          throw error;
        }),
      ),
    );
    const failed = results.map((r, i) => ({ r, i })).filter(({ r }) => r.messages.length > 0);
    if (failed.length > 0) {
      // Each answered once, unknown with the engine's own scan error: the error is the cause, not the concurrency.
      const scanErrors = failed.every(({ r }) => scanError(r.answer) !== null && r.messages.length === 1);
      out.messages.push(
        scanErrors
          ? `${failed.length} of ${CONCURRENT} bounties sent at once were answered unknown with the engine's scan error, as a single bounty is: not a concurrency problem`
          : `${failed.length} of ${CONCURRENT} bounties sent at once were not answered exactly once and correctly; an engine must queue what it cannot scan yet (or answer 503 with Retry-After), never drop or repeat an answer`,
      );
      for (const { r, i } of failed.slice(0, 5))
        out.messages.push(`bounty ${i + 1} (${i % 2 === 0 ? 'EICAR' : 'benign'}): ${r.messages.join('; ')}`);
      if (failed.length > 5) out.messages.push(`… and ${failed.length - 5} more`);
    }
    const warnings = new Set(results.flatMap((r) => r.warnings));
    out.warnings.push(...warnings);
    return out;
  },
};

/** docs/protocol.md §12's default body cap, used when a 413 does not say the engine's own. */
const DEFAULT_LIMIT = 1024 * 1024;
const OVERSIZED = 2 * 1024 * 1024;

/** A valid EICAR bounty padded with an unknown field to exactly `size` bytes. */
function paddedBounty(ctx: RunContext, size: number) {
  const responseUrl = ctx.host.answerUrl();
  const wire = eicarWire(ctx, responseUrl);
  wire.x_padding = '';
  // Parsed small: a megabyte through the lossless parser would stall this process (and its timings) for a second.
  const bare = prepareBounty(wire);
  if (!bare.parsed.ok) throw new Error('padded bounty does not parse');
  wire.x_padding = 'a'.repeat(Math.max(0, size - bare.bytes.byteLength));
  return { bytes: Buffer.from(stringifyJson(wire), 'utf8'), bounty: bare.parsed.value, responseUrl };
}

/**
 * A body over the limit must get 413 (JSON wanted), not a 5xx or a reset; a body just under the limit the 413
 * states (docs/protocol.md §12's 1 MiB if it states none) must be accepted and answered. An engine that takes 2 MiB is
 * checked on that bounty's answer instead.
 */
export const bodySizeCase: CaseDefinition = {
  name: 'bounty: body at the size limit → accepted; over it → 413',
  async run(ctx) {
    const out = outcome();
    const over = paddedBounty(ctx, OVERSIZED);
    const res = await sendOrReason(ctx, { event: 'bounty', body: over.bytes, json: true });
    if (typeof res === 'string') {
      out.messages.push(`a 2 MiB bounty got no HTTP answer (${res}); refuse a body over your limit with 413 JSON, read or not`);
      await stillServing(ctx, out, 'a 2 MiB bounty');
      return out;
    }
    if (res.status === 401) {
      out.messages.push(explain401(ctx, res));
      return out;
    }
    if (res.status >= 200 && res.status <= 299) {
      // No limit below 2 MiB: the bounty must then be answered like any other.
      await judgeAnswer(ctx, out, over, 'the 2 MiB bounty it accepted');
      return out;
    }
    if (res.status !== 413) {
      out.messages.push(
        `expected 413 for a 2 MiB bounty (or 202 and an answer), got ${res.status}: ${bodyQuote(res)}; refuse a body over your limit with 413 JSON`,
      );
      await stillServing(ctx, out, 'a 2 MiB bounty');
      return out;
    }
    if (!isJsonBody(res))
      out.warnings.push(`the 413 body is not JSON (${res.headers['content-type'] ?? 'no Content-Type'}): ${bodyQuote(res)}`);
    const stated = /(\d+)\s*bytes/.exec(res.body.toString('utf8'));
    const limit = stated ? Number(stated[1]) : DEFAULT_LIMIT;
    if (limit >= OVERSIZED || limit < 4096) return out;
    const near = paddedBounty(ctx, limit - 1024);
    const accepted = await sendEvent(ctx, { event: 'bounty', body: near.bytes, json: true });
    const size = near.bytes.byteLength;
    if (accepted.status < 200 || accepted.status > 299) {
      out.messages.push(
        `a ${size}-byte bounty, under the ${limit}-byte limit ${stated ? 'the engine states in its 413' : 'of 1 MiB (the usual default; the 413 stated none)'}, got ${accepted.status}: ${bodyQuote(accepted)}; ` +
          'count the limit in raw body bytes and accept everything up to it',
      );
      return out;
    }
    await judgeAnswer(ctx, out, near, `the ${size}-byte bounty`);
    return out;
  },
};

async function judgeAnswer(ctx: RunContext, out: CaseOutcome, sent: ReturnType<typeof paddedBounty>, what: string): Promise<void> {
  const started = Date.now();
  const expiration = sent.bounty.expiration.getTime();
  if (expiration <= started) {
    out.messages.push(
      `${what}: acknowledged only after its expiration; answer 202 at once and scan afterwards (on a busy test machine, raise --expiration)`,
    );
    return;
  }
  const answers = await ctx.host.waitForAnswers(sent.responseUrl, expiration + WATCH_GRACE_MS, ctx.settleMs);
  const checked = checkAnswers(
    answers,
    { kind: 'assertion', verdict: 'malicious', rules: sent.bounty.rules, expiration },
    expiration - started,
  );
  out.messages.push(...checked.messages.map((m) => `${what}: ${m}`));
  out.warnings.push(...checked.warnings);
}
