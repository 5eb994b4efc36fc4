import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { parseJson } from '../protocol/json.js';
import { sign } from '../protocol/signature.js';
import type { Verdict } from '../protocol/types.js';
import { formatDuration } from '../util/duration.js';
import { UsageError } from '../util/errors.js';
import { readBytes } from '../util/input.js';
import { artifactOf, benignArtifact, eicarArtifact, guessMimetype, type Artifact } from './artifacts.js';
import { applySet, buildBountyWire, prepareBounty, type BountySpec } from './bounty.js';
import { checkAnswers, type CheckOutcome } from './checks.js';
import type { HttpResponse } from './http.js';
import { bodyQuote, explain401, isJsonBody, sendEvent, type RunContext, type SentResponse } from './context.js';
import { WATCH_GRACE_MS } from './dispatch.js';
import type { ArtifactChoice, BountyOptions } from './types.js';

/** What a case found (as checkAnswers reports an answer); the runner adds the name and the timing. */
export type CaseOutcome = CheckOutcome;

export interface CaseDefinition {
  name: string;
  run: (ctx: RunContext) => Promise<CaseOutcome>;
}

/** How long an already-expired bounty is watched for an answer that must not come. */
const EXPIRED_GRACE_MS = 2000;
/** An acknowledgement slower than this suggests the engine scans before answering. */
const SLOW_ACK_MS = 2000;

export const outcome = (): CaseOutcome => ({ messages: [], warnings: [] });

/**
 * Whether `res` got a status in [min, min + 99] (a 2xx or a 4xx). A 401 is explained instead (once per run): the engine refused our
 * signature, whatever the case expected; any other status outside the range fails with `wrong`.
 */
export function expectStatus(ctx: RunContext, out: CaseOutcome, res: SentResponse, min: 200 | 400, wrong: string): boolean {
  if (res.status === 401) out.messages.push(explain401(ctx, res));
  else if (res.status < min || res.status > min + 99) out.messages.push(wrong);
  else return true;
  return false;
}

export const EMPTY = new Uint8Array(0);

/** `ping`: a signed empty body, no Content-Type; any 2xx passes. */
export const pingCase: CaseDefinition = {
  name: 'ping',
  async run(ctx) {
    const out = outcome();
    const res = await sendEvent(ctx, { event: 'ping', body: EMPTY, json: false });
    // What answered, so a wrong --url (the metrics port, a web server) is recognised at a glance.
    const type = res.headers['content-type'] ?? 'no content-type';
    expectStatus(ctx, out, res, 200, `expected a 2xx answer to a signed ping, got ${res.status} (${type}): ${bodyQuote(res)}`);
    return out;
  },
};

/** `analyze`: an unsupported event must get a 4xx, and the engine must still answer a ping afterwards. */
export const analyzeCase: CaseDefinition = {
  name: 'unsupported event (analyze) → 4xx, still serving',
  async run(ctx) {
    const out = outcome();
    const res = await sendEvent(ctx, { event: 'analyze', body: EMPTY, json: false });
    const wrong =
      `expected a 4xx answer to the unsupported event "analyze", got ${res.status}: ${bodyQuote(res)} ` +
      '(the reference answers 400 {"X-POLYSWARM-EVENT": "Given event not supported"})';
    if (expectStatus(ctx, out, res, 400, wrong) && !isJsonBody(res))
      out.warnings.push(`the ${res.status} body is not JSON: ${bodyQuote(res)}`);
    const ping = await sendEvent(ctx, { event: 'ping', body: EMPTY, json: false });
    if (ping.status < 200 || ping.status > 299)
      out.messages.push(`after the unsupported event, a signed ping got ${ping.status} instead of 2xx: ${bodyQuote(ping)}`);
    return out;
  },
};

interface ResolvedArtifact {
  spec: Pick<BountySpec, 'artifactType' | 'artifactUri' | 'sha256' | 'mimetype'>;
  expect: Verdict | 'any';
}

/** A bounty's artifact fields for `artifact`, served by the simulator's host. */
export function hostedSpec(ctx: RunContext, artifact: Artifact): ResolvedArtifact['spec'] {
  return { artifactType: 'file', artifactUri: ctx.host.host(artifact), sha256: artifact.sha256, mimetype: artifact.mimetype };
}

/** A valid, unexpired EICAR bounty served by the simulator's host, answered at `responseUrl`. */
export function eicarWire(ctx: RunContext, responseUrl = ctx.host.answerUrl()): Record<string, unknown> {
  const expiration = new Date(Date.now() + ctx.expirationMs);
  return buildBountyWire({ ...hostedSpec(ctx, eicarArtifact()), responseUrl, expiration, phase: 'assertion' });
}

/** Hosts the chosen artifact (or points at the given URL) and says which verdict it calls for. */
async function resolveArtifact(ctx: RunContext, choice: ArtifactChoice): Promise<ResolvedArtifact> {
  const hosted = (artifact: Artifact, expect: Verdict | 'any'): ResolvedArtifact => ({ spec: hostedSpec(ctx, artifact), expect });
  if (choice === 'eicar') return hosted(eicarArtifact(), 'malicious');
  if (choice === 'benign') return hosted(benignArtifact(), 'benign');
  if ('file' in choice) {
    const bytes = await readBytes(choice.file, `--file ${choice.file}`);
    return hosted(artifactOf(bytes, guessMimetype(bytes, basename(choice.file))), 'any');
  }
  if ('bytes' in choice) return hosted(artifactOf(choice.bytes, choice.mimetype ?? guessMimetype(choice.bytes)), 'any');
  if ('artifactUrl' in choice) {
    return { spec: { artifactType: 'file', artifactUri: choice.artifactUrl, sha256: null, mimetype: null }, expect: 'any' };
  }
  return { spec: { artifactType: 'url', artifactUri: choice.urlArtifact, sha256: null, mimetype: null }, expect: 'any' };
}

/** A bounty case's full description (the `bounty` command's options plus what suite cases vary). */
export interface BountyCaseOptions extends BountyOptions {
  /** Extra top-level fields merged into the wire body (unknown-field tolerance). */
  extra?: Record<string, unknown>;
  rules?: BountySpec['rules'];
  /** Expiration relative to now; negative for an already-expired bounty. */
  expirationMs?: number;
  /** Send the same signed body twice with the same delivery id. */
  repeatDelivery?: boolean;
  /** Why this case exists, appended to a failure so the reader knows what was being tested. */
  about?: string;
  /** An absolute expiration (wins over expirationMs), e.g. decades away. */
  expiresAt?: Date;
  /** Wait at most this long for the answer, even when the expiration is further away. */
  answerWithinMs?: number;
}

/**
 * One bounty, end to end: build (or take the payload), point `response_url` at our receiver, validate, sign and
 * send, expect a quick 2xx, then wait for the answer until the expiration and check it.
 */
export async function runBountyCase(ctx: RunContext, options: BountyCaseOptions): Promise<CaseOutcome> {
  const out = outcome();
  const expirationMs = options.expirationMs ?? ctx.expirationMs;
  const responseUrl = ctx.host.answerUrl();
  let wire: Record<string, unknown>;
  let expect: Verdict | 'any';
  if (options.payload) {
    const json = parseJson(options.payload);
    if (!json.ok) throw new UsageError(`--payload: ${json.error}`);
    if (json.value === null || typeof json.value !== 'object' || Array.isArray(json.value)) {
      throw new UsageError('--payload: the bounty must be a JSON object');
    }
    wire = json.value as Record<string, unknown>;
    wire.response_url = responseUrl;
    expect = options.expect ?? 'any';
  } else {
    const artifact = await resolveArtifact(ctx, options.artifact ?? 'eicar');
    wire = buildBountyWire({
      ...artifact.spec,
      responseUrl,
      expiration: options.expiresAt ?? new Date(Date.now() + expirationMs),
      phase: options.phase ?? 'assertion',
      legacy: options.legacy,
      rules: options.rules,
    });
    Object.assign(wire, options.extra);
    expect = options.expect ?? artifact.expect;
  }
  for (const [path, value] of Object.entries(options.set ?? {})) applySet(wire, { path: path.split('.'), value });

  const prepared = prepareBounty(wire);
  if (!prepared.parsed.ok) {
    const problems = prepared.parsed.errors.map((e) => `${e.path || '(document)'}: ${e.message}`);
    if (!options.allowInvalid) {
      throw new UsageError(`the bounty is not valid, nothing was sent:\n  ${problems.join('\n  ')}`, {
        hint: 'Fix the --set/--payload values, or pass --allow-invalid to send it anyway (the engine must then reject it with 4xx).',
      });
    }
    // A negative test: the engine must refuse it, and must not answer it.
    const res = await sendEvent(ctx, { event: 'bounty', body: prepared.bytes, json: true });
    const wrong = `expected a 4xx answer to an invalid bounty (${problems.join('; ')}), got ${res.status}: ${bodyQuote(res)}`;
    if (expectStatus(ctx, out, res, 400, wrong) && !isJsonBody(res))
      out.warnings.push(`the ${res.status} body is not JSON: ${bodyQuote(res)}`);
    const posted = await ctx.host.waitForAnswers(responseUrl, Date.now() + ctx.settleMs, 0);
    if (posted.length > 0) out.messages.push('the engine posted an answer to a bounty it should have rejected');
    return out;
  }
  const bounty = prepared.parsed.value;

  const deliveryId = randomUUID();
  const sends = options.repeatDelivery ? 2 : 1;
  const sentAt = Date.now();
  const expiredWhenSent = bounty.expiration.getTime() <= sentAt;
  for (let i = 0; i < sends; i++) {
    const res = await sendEvent(ctx, { event: 'bounty', body: prepared.bytes, json: true, deliveryId });
    const which = sends > 1 ? (i === 0 ? 'first delivery' : 'repeated delivery') : 'bounty';
    if (res.status === 401) {
      out.messages.push(explain401(ctx, res));
      return out;
    }
    if (res.status < 200 || res.status > 299) {
      out.messages.push(`expected 202 Accepted for the ${which}, got ${res.status}: ${refusalQuote(res)}`);
      return withAbout(out, options.about);
    }
    if (res.status !== 202) out.warnings.push(`the ${which} got ${res.status}; PolySwarm expects 202 Accepted (scan after answering)`);
    if (res.ms > SLOW_ACK_MS) {
      out.warnings.push(`the ${which} took ${Math.round(res.ms)} ms to be acknowledged; answer 202 at once and scan afterwards`);
    }
  }

  const expiration = bounty.expiration.getTime();
  if (!expiredWhenSent && expiration <= Date.now()) {
    out.messages.push(
      `the engine acknowledged the bounty only after its expiration, ${Date.now() - sentAt} ms after it was sent; answer 202 at once and ` +
        'scan afterwards (on a busy test machine, raise --expiration)',
    );
    return withAbout(out, options.about);
  }
  if (expiration <= Date.now()) {
    const posted = await ctx.host.waitForAnswers(responseUrl, Date.now() + EXPIRED_GRACE_MS, 0);
    if (posted.length > 0) {
      out.messages.push(
        `the engine posted an answer to a bounty that had already expired (${posted.length} answer${posted.length > 1 ? 's' : ''}); it must not be scanned or answered`,
      );
    }
    return out;
  }
  const started = Date.now();
  const settle = options.repeatDelivery ? Math.max(ctx.settleMs, 2000) : ctx.settleMs;
  const waitUntil = Math.min(
    expiration + WATCH_GRACE_MS,
    options.answerWithinMs === undefined ? Infinity : started + options.answerWithinMs,
  );
  const answers = await ctx.host.waitForAnswers(responseUrl, waitUntil, settle);
  const hostedByUs = bounty.artifact_type === 'file' && ctx.host.isHosted(bounty.artifact_uri);
  const downloads = hostedByUs ? ctx.host.downloadCount(bounty.artifact_uri) : 0;
  if (ctx.trace) {
    if (hostedByUs) ctx.trace(`⇐ artifact downloaded ${downloads} time${downloads === 1 ? '' : 's'} from ${bounty.artifact_uri}`);
    if (answers.length === 0) ctx.trace('⇐ no answer posted to response_url');
    for (const [i, answer] of answers.entries()) {
      ctx.trace(
        `⇐ answer ${i + 1} posted to response_url ${answer.at - started} ms after the bounty was accepted (${answer.contentType ?? 'no Content-Type'}, ${answer.bytes.byteLength} bytes)`,
      );
      ctx.trace(`  ${answer.bytes.toString('utf8')}`);
    }
  }
  const checked = checkAnswers(
    answers,
    { kind: bounty.answer_kind, verdict: expect, rules: bounty.rules, expiration },
    Math.max(0, expiration - started),
  );
  if (answers.length === 0 && waitUntil < expiration) {
    checked.messages = [
      `no answer within ${formatDuration(waitUntil - started)} of a bounty that expires at ${bounty.expiration.toISOString()}`,
    ];
  }
  out.messages.push(...checked.messages);
  out.warnings.push(...checked.warnings);
  if (hostedByUs && downloads === 0) {
    if (answers.length > 0) out.warnings.push('the engine answered without downloading the artifact');
    else out.messages.push(`the engine never downloaded the artifact from ${bounty.artifact_uri}: ${unreachableHint(ctx)}`);
  }
  out.answer = checked.answer;
  // The engine said its scan failed (ERROR:…): that is the cause, not what this case is about.
  return scanError(checked.answer) ? out : withAbout(out, options.about);
}

/** The `ERROR:…` comment of an `unknown` answer: the engine's scan failed, whatever the bounty was. Null otherwise. */
export function scanError(answer: unknown): string | null {
  if (answer === null || typeof answer !== 'object') return null;
  const { verdict, metadata } = answer as { verdict?: unknown; metadata?: { comments?: unknown } };
  if (verdict !== 'unknown' || !Array.isArray(metadata?.comments)) return null;
  return metadata.comments.find((c): c is string => typeof c === 'string' && c.startsWith('ERROR:')) ?? null;
}

/**
 * The body of a refused bounty: a JSON error (`{"error": …, "hint": …}`, as an engine refusing a `response_url`
 * its egress policy forbids answers) in full, since the flag that lifts the refusal comes last; else a short quote.
 */
function refusalQuote(res: HttpResponse): string {
  const text = res.body.toString('utf8').trim();
  try {
    const value = JSON.parse(text) as { error?: unknown } | null;
    if (value !== null && typeof value === 'object' && typeof value.error === 'string' && text.length <= 1000) return JSON.stringify(value);
  } catch {
    // Not JSON: quoted below.
  }
  return bodyQuote(res);
}

/** Why an engine may not reach the simulator's host, and the flags that fix it. */
function unreachableHint(ctx: RunContext): string {
  if (ctx.host.isDefault) {
    return (
      "if it (or its worker) runs in a container or on another host, it cannot reach the simulator's 127.0.0.1 address; " +
      'run it on this machine (or with host networking), or pass --listen-host 0.0.0.0 --advertise-host <an address the ' +
      'engine can reach> (e.g. host.docker.internal, or 172.17.0.1 for the docker bridge)'
    );
  }
  return (
    `the simulator listens on ${ctx.host.listenAddress} and told the engine to use ${ctx.host.baseUrl}; check that the ` +
    'engine (or its worker) can reach that address (--advertise-host), that --listen-host covers the interface it ' +
    'arrives on, and that no firewall blocks the port (fix it with --callback-port)'
  );
}

/** Adds what the case tests to the first failure message, so a reader knows why it matters. */
function withAbout(out: CaseOutcome, about: string | undefined): CaseOutcome {
  if (about && out.messages.length > 0) out.messages[out.messages.length - 1] += ` (${about})`;
  return out;
}

export type SignatureMangler = (ctx: RunContext, body: Buffer) => { body: Buffer; signature: string | null };

/** A request the engine must refuse on its signature alone: judged on the status (and a JSON body). */
export function securityCase(name: string, expected: 400 | 401, what: string, mangle: SignatureMangler): CaseDefinition {
  return {
    name,
    async run(ctx) {
      const out = outcome();
      // A valid, unexpired bounty: an engine that skips the check would accept (and scan) it.
      const sent = mangle(ctx, prepareBounty(eicarWire(ctx)).bytes);
      const res = await sendEvent(ctx, { event: 'bounty', body: sent.body, signature: sent.signature, json: true });
      if (res.status === expected) {
        if (!isJsonBody(res)) out.warnings.push(`the ${res.status} body is not JSON: ${bodyQuote(res)}`);
      } else if (res.status >= 200 && res.status <= 299) {
        out.messages.push(
          `the engine accepted ${what} (answered ${res.status}); it must verify X-POLYSWARM-SIGNATURE on the raw body and answer ${expected}`,
        );
      } else if (expected === 401 && res.status === 403) {
        out.messages.push(
          `expected 401 for ${what}, got 403; the PolySwarm reference answers 401 {"X-POLYSWARM-SIGNATURE": "Signature does not match body"}`,
        );
      } else {
        const reference =
          expected === 400
            ? '400 {"X-POLYSWARM-SIGNATURE": "Signature not included in headers"}'
            : '401 {"X-POLYSWARM-SIGNATURE": "Signature does not match body"}';
        out.messages.push(`expected ${expected} for ${what}, got ${res.status}: ${bodyQuote(res)} (the reference answers ${reference})`);
      }
      return out;
    },
  };
}

/** A signature that is well-formed but made with another key: never the right one. */
export const wrongSignature = (ctx: RunContext, body: Buffer) => sign(`${ctx.secret}\u0000not-the-secret-${randomUUID()}`, body);

/** The malformed-JSON case: a correctly signed body that is not JSON must get a 4xx (JSON body wanted, HTML tolerated). */
export const malformedJsonCase: CaseDefinition = {
  name: 'malformed JSON → 4xx JSON',
  async run(ctx) {
    const out = outcome();
    const body = Buffer.from('{"id": 1, "artifact_type": "file", "artifact_uri": ', 'utf8');
    const res = await sendEvent(ctx, { event: 'bounty', body, json: true });
    const wrong = `expected a 4xx answer to a bounty body that is not JSON, got ${res.status}: ${bodyQuote(res)}`;
    if (expectStatus(ctx, out, res, 400, wrong) && !isJsonBody(res)) {
      // The Python reference answers Flask's HTML page here: a foreign engine is not failed for it, only warned.
      out.warnings.push(
        `the ${res.status} body is not JSON (${res.headers['content-type'] ?? 'no Content-Type'}): ${bodyQuote(res)}; polyswarm-engine answers {"bounty":"Invalid bounty request","errors":[…]}`,
      );
    }
    return out;
  },
};
