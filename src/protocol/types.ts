/**
 * The wire types of a PolySwarm webhook microengine (see the README's "Protocol" part).
 * Pure types: everything in `src/protocol/` is free of I/O.
 */

/** The four verdicts an engine can give; `unknown` and `suspicious` always bid 0. */
export type Verdict = 'benign' | 'malicious' | 'suspicious' | 'unknown';
export const VERDICTS: readonly Verdict[] = ['benign', 'malicious', 'suspicious', 'unknown'];

export type ArtifactType = 'file' | 'url';

/** Which answer a bounty wants: an Assertion (with a bid) or, in arbitration, a Vote (no bid). */
export type AnswerKind = 'assertion' | 'vote';

/** Which era of bounty body it was: v0 (`guid`, `artifact_url`), v1 (`id`, `artifact_uri`), v2 (+ `duration`/`tasked_at`). */
export type BountyVersion = 'v0' | 'v1' | 'v2';

/**
 * Bid rules in wei (1 NCT = 10^18 wei). Values are `bigint` because they exceed 2^53.
 * Every integer-valued rule the bounty carried is kept under its wire name.
 */
export interface BidRules {
  min_allowed_bid?: bigint;
  max_allowed_bid?: bigint;
  [rule: string]: bigint | undefined;
}

/** A validated bounty, as the engine and an author's `scan` see it (field names are the wire names). */
export interface BountyData {
  /** The bounty id, exactly as sent: a number's digits (never rounded) or the string. v0's `guid` lands here. */
  id: string;
  artifact_type: ArtifactType;
  /** Where to download a FILE artifact, or the website to scan for a URL artifact. v0's `artifact_url` lands here. */
  artifact_uri: string;
  /** When the answer is due (UTC). */
  expiration: Date;
  /** The expiration string had no UTC offset and was read as UTC (log a warning). */
  expiration_was_naive: boolean;
  response_url: string;
  rules: BidRules;
  /** 64 lowercase hex digits when the bounty carried a valid one, else null (the reference tolerated junk like "asdf"). */
  sha256: string | null;
  mimetype: string | null;
  /** The phase as sent (e.g. `assertion`, `arbitration`, `assertion_window`), or null. */
  phase: string | null;
  /** `vote` when the phase is `arbitration` or `vote` (case-insensitive), else `assertion`. */
  answer_kind: AnswerKind;
  metadata: Record<string, unknown> | null;
  duration: number | string | null;
  tasked_at: Date | null;
  version: BountyVersion;
}

/** A problem found in a document, named by its JSON Pointer path (`/rules/max_allowed_bid`). */
export interface FieldError {
  /** JSON Pointer to the offending value, `` (empty) for the document itself. */
  path: string;
  message: string;
}

export type ParseResult<T> = { ok: true; value: T; warnings: string[] } | { ok: false; errors: FieldError[] };

/** polyswarm-artifact's `Scanner` (all optional); extra keys are kept. */
export interface ScannerInfo {
  version?: string | null;
  polyswarmclient_version?: string | null;
  vendor_version?: string | null;
  signatures_version?: string | null;
  environment?: { operating_system?: string | null; architecture?: string | null; [key: string]: unknown } | null;
  [key: string]: unknown;
}

export interface StixSignature {
  schema: string;
  signature: unknown;
}

/**
 * polyswarm-artifact's `ScanMetadata`, serialised with all six keys (as the reference's `.dict()` does);
 * extra keys (e.g. `comments`, `product`) are kept.
 */
export interface ScanMetadata {
  malware_family: string;
  domains: string[] | null;
  ip_addresses: string[] | null;
  stix: StixSignature[] | null;
  scanner: ScannerInfo | null;
  heuristic: boolean | null;
  [extra: string]: unknown;
}

/** The answer to an assertion-phase bounty. `bid` is in wei and serialised as JSON integer digits. */
export interface Assertion {
  verdict: Verdict;
  bid: bigint;
  metadata: ScanMetadata;
}

/** The answer to an arbitration-phase bounty: no `bid` key at all. */
export interface Vote {
  verdict: Verdict;
  metadata: ScanMetadata;
}

export type Answer = Assertion | Vote;

/** What an author's `scan` returns. Only `verdict` is required. */
export interface ScanResult {
  verdict: Verdict;
  /** 0..1, used only by the bid (default 1). Never sent. */
  confidence?: number;
  /** Any subset of ScanMetadata plus extra keys; the engine fills the rest. */
  metadata?: Partial<ScanMetadata> & Record<string, unknown>;
}
