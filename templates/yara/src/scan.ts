/**
 * Your engine's scanner: PolySwarm sends your engine a bounty (an artifact to judge), polyswarm-engine
 * downloads the artifact on demand and calls `scan`; what `scan` returns becomes your answer.
 *
 * This engine is a YARA rule set: the rules in `rules/` are compiled once when the engine starts (with YARA-X,
 * VirusTotal's YARA), and each artifact is scanned with them on a worker thread (src/scanner.ts). A rule that
 * matches makes the answer; its `meta:` fields say how (rules/meta-fields.yar shows them all).
 *
 * Run `npm run dev` and edit a rule (or this file): the engine compiles the rules again on save. A rule that does
 * not compile is shown with its file and line, and the last good rule set keeps answering.
 */
import { fileURLToPath } from 'node:url';
import { defaultBid, scanMetadata, type Bounty, type ScanContext, type ScanResult } from 'polyswarm-engine';
import { loadRuleSet } from './rules.js';
import { startScanner, type RuleMatch } from './scanner.js';

/** Your engine's own version, sent with every answer (`metadata.scanner.vendor_version`). */
const ENGINE_VERSION = '0.1.0';

/**
 * How sure "no rule matched" makes you that a file is benign. A rule set only knows what it was written for, so
 * this is well below a match's default of 1; it sets the bid on a benign answer.
 */
const BENIGN_CONFIDENCE = 0.5;

/** The rule set: every `.yar`/`.yara` file in rules/, its version a hash of their contents. */
export const ruleSet = loadRuleSet(fileURLToPath(new URL('../rules/', import.meta.url)));
/** Compiled now, once, not per bounty (a rule that does not compile stops the engine here, naming its line). */
export const scanner = await startScanner(ruleSet);

/**
 * Judges one artifact: `malicious` (or `suspicious`) when a rule matches, `benign` when none does, `unknown` for
 * what it cannot scan. Anything thrown is answered `unknown` for you, with the error in `metadata.comments`.
 */
export async function scan(bounty: Bounty, ctx: ScanContext): Promise<ScanResult> {
  // A bounty is either a file to download or a URL to judge; YARA rules read files.
  if (bounty.artifact_type !== 'file') {
    return { verdict: 'unknown', metadata: scanMetadata().comment('SKIPPED:TYPE-UNSUPPORTED').build() };
  }
  // The bytes are downloaded once (size-capped, sha256-checked); the scan stops waiting at the deadline.
  const bytes = await bounty.fetchArtifact();
  const matches = await scanner.scan(bytes, ctx.signal);
  ctx.log.debug('scanned', { bytes: bytes.length, matches: matches.map((m) => m.rule) });
  return answer(matches, ruleSet.version);
}

/** A rule's `meta: confidence`, when it is a number from 0 to 1 (or a string of one). */
function confidenceOf(match: RuleMatch): number | undefined {
  const value = match.meta.confidence;
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : undefined;
}

const isSuspicious = (match: RuleMatch) => String(match.meta.verdict ?? '').toLowerCase() === 'suspicious';

/**
 * The answer for the rules that matched. The rule that speaks: a malicious one (no `verdict`, or any other value than
 * "suspicious") before a suspicious one, then the most confident. Its `family` (else its name) is the malware
 * family, its `confidence` the answer's (so the bid follows it); every matched rule is listed in `yara_rules`.
 */
export function answer(matches: RuleMatch[], version: string): ScanResult {
  const metadata = scanMetadata().scanner({ vendor_version: ENGINE_VERSION, signatures_version: version });
  if (matches.length === 0) return { verdict: 'benign', confidence: BENIGN_CONFIDENCE, metadata: metadata.build() };
  const rank = (m: RuleMatch) => (isSuspicious(m) ? 0 : 2) + (confidenceOf(m) ?? 1);
  const lead = matches.reduce((a, b) => (rank(b) > rank(a) ? b : a));
  const family = typeof lead.meta.family === 'string' && lead.meta.family !== '' ? lead.meta.family : lead.rule;
  metadata.malwareFamily(family).extra(
    'yara_rules',
    matches.map((m) => m.rule),
  );
  return { verdict: isSuspicious(lead) ? 'suspicious' : 'malicious', confidence: confidenceOf(lead), metadata: metadata.build() };
}

/**
 * How much to stake on a `malicious` or `benign` verdict (`unknown` and `suspicious` always bid 0), in wei
 * (1 NCT = 10^18 wei, so a `bigint`). `defaultBid` is PolySwarm's reference formula, `min + confidence × (max − min)`,
 * within the bounty's `rules.min_allowed_bid` and `max_allowed_bid`: a rule's `meta: confidence` sets it.
 */
export function computeBid(bounty: Bounty, result: ScanResult): bigint {
  return defaultBid(bounty.rules, result.confidence ?? 1);
}
