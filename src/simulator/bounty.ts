import { randomBytes, randomUUID } from 'node:crypto';
import { bountyToWire, parseBountyBody } from '../protocol/bounty.js';
import { DEFAULT_MAX_BID, DEFAULT_MIN_BID } from '../protocol/bid.js';
import { parseJson, stringifyJson } from '../protocol/json.js';
import type { BidRules, BountyData, ParseResult } from '../protocol/types.js';
import { UsageError } from '../util/errors.js';

/** What a simulated bounty is made of; everything else gets the platform's usual values. */
export interface BountySpec {
  artifactType: 'file' | 'url';
  artifactUri: string;
  sha256: string | null;
  mimetype: string | null;
  responseUrl: string;
  expiration: Date;
  phase: 'assertion' | 'arbitration';
  /** v0 field names (`guid`, `artifact_url`). */
  legacy?: boolean;
  rules?: BidRules;
}

/**
 * A random bounty id that is a safe integer: the platform sends ids as JSON numbers, and an engine that parses
 * them with JSON.parse must still get them exactly.
 */
export function randomBountyId(): bigint {
  const id = BigInt(`0x${randomBytes(7).toString('hex')}`) & ((1n << 53n) - 1n);
  return id === 0n ? 1n : id;
}

/** The wire body of a bounty as the platform sends it today (v2: with `duration` and `tasked_at`), or v0. */
export function buildBountyWire(spec: BountySpec, now = new Date()): Record<string, unknown> {
  const data: BountyData = {
    id: randomBountyId().toString(),
    artifact_type: spec.artifactType,
    artifact_uri: spec.artifactUri,
    expiration: spec.expiration,
    expiration_was_naive: false,
    response_url: spec.responseUrl,
    rules: spec.rules ?? { min_allowed_bid: DEFAULT_MIN_BID, max_allowed_bid: DEFAULT_MAX_BID },
    sha256: spec.sha256,
    mimetype: spec.mimetype,
    phase: spec.phase,
    answer_kind: spec.phase === 'arbitration' ? 'vote' : 'assertion',
    metadata: null,
    // psengine's forger sends whole seconds between tasking and expiration.
    duration: Math.max(0, Math.round((spec.expiration.getTime() - now.getTime()) / 1000)),
    tasked_at: now,
    version: spec.legacy ? 'v0' : 'v2',
  };
  return bountyToWire(data, { legacy: spec.legacy ?? false });
}

/** The shortest and longest lifetime a re-aimed bounty gets, and the one it gets when its body does not say. */
const REAIM_LIFETIME = { minMs: 5_000, maxMs: 10 * 60_000, unknownMs: 30_000 } as const;

/** A recorded bounty's lifetime from tasking (or `duration`) to expiration, in ms, clamped to 5 s – 10 min. */
function recordedLifetime(wire: Record<string, unknown>): number {
  const expiration = typeof wire.expiration === 'string' ? Date.parse(wire.expiration) : Number.NaN;
  const tasked = typeof wire.tasked_at === 'string' ? Date.parse(wire.tasked_at) : Number.NaN;
  const duration = Number(wire.duration);
  const lifetime =
    expiration > tasked ? expiration - tasked : Number.isFinite(duration) && duration > 0 ? duration * 1000 : REAIM_LIFETIME.unknownMs;
  return Math.min(Math.max(lifetime, REAIM_LIFETIME.minMs), REAIM_LIFETIME.maxMs);
}

/**
 * A recorded bounty made current and local, for a replay (`test replay`, the inspector): a new id (so an engine that
 * saw it does not answer it as a duplicate), the expiration moved forward by its recorded lifetime, the answer sent to
 * `responseUrl` and, when given, the artifact fetched from `artifactUrl`. The body's era (v0 `guid`/`artifact_url`)
 * is kept. Nothing else changes.
 */
export function reaimBounty(
  wire: Record<string, unknown>,
  target: { responseUrl: string; artifactUrl?: string },
  now = Date.now(),
): Record<string, unknown> {
  const out = { ...wire };
  if ('guid' in out && !('id' in out)) out.guid = randomUUID();
  else out.id = typeof out.id === 'string' ? randomBountyId().toString() : randomBountyId();
  out.expiration = new Date(now + recordedLifetime(wire)).toISOString();
  if ('tasked_at' in out) out.tasked_at = new Date(now).toISOString();
  out.response_url = target.responseUrl;
  if (target.artifactUrl !== undefined) {
    if ('artifact_url' in out && !('artifact_uri' in out)) out.artifact_url = target.artifactUrl;
    else out.artifact_uri = target.artifactUrl;
  }
  return out;
}

/** One `--set path=value`: a dotted path and a typed value. */
export interface SetAssignment {
  path: string[];
  value: unknown;
}

/**
 * Parses `path=value`. The value is read as JSON when it is JSON (`10`, `true`, `null`, `"10"`, `{"a":1}`; big
 * integers stay exact), else taken as a plain string (`phase=arbitration`).
 */
export function parseSetArgument(argument: string): SetAssignment {
  const eq = argument.indexOf('=');
  if (eq <= 0) {
    throw new UsageError(`--set ${JSON.stringify(argument)}: expected path=value`, {
      hint: 'For example: --set rules.max_allowed_bid=10 --set phase=arbitration --set metadata=null',
    });
  }
  const path = argument.slice(0, eq).split('.');
  if (path.some((segment) => segment === '')) {
    throw new UsageError(`--set ${JSON.stringify(argument)}: the path "${argument.slice(0, eq)}" has an empty segment`);
  }
  for (const segment of path) {
    if (segment === '__proto__' || segment === 'constructor' || segment === 'prototype') {
      throw new UsageError(`--set ${JSON.stringify(argument)}: "${segment}" cannot be set`);
    }
  }
  const text = argument.slice(eq + 1);
  const json = text.trim() === '' ? null : parseJson(text);
  return { path, value: json?.ok ? json.value : text };
}

/** Sets a dotted path in a JSON object, creating (or replacing non-object) intermediate objects. */
export function applySet(target: Record<string, unknown>, assignment: SetAssignment): void {
  let node: Record<string, unknown> = target;
  for (const segment of assignment.path.slice(0, -1)) {
    const next = node[segment];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  node[assignment.path[assignment.path.length - 1]] = assignment.value;
}

/** A bounty ready to send: the exact bytes, and what the engine's own parser makes of them. */
export interface PreparedBounty {
  wire: Record<string, unknown>;
  bytes: Buffer;
  parsed: ParseResult<BountyData>;
}

/** Serialises a wire body (bigints as digits) and parses it back as an engine would. */
export function prepareBounty(wire: Record<string, unknown>): PreparedBounty {
  const bytes = Buffer.from(stringifyJson(wire), 'utf8');
  return { wire, bytes, parsed: parseBountyBody(bytes) };
}
