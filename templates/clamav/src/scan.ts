/**
 * A ClamAV engine: each FILE artifact is written to a temporary file (`bounty.artifactPath()`) and scanned
 * with ClamAV (see ./clamav.ts for the settings). A signature match is `malicious` with the signature name as
 * the malware family, a clean scan is `benign`, and anything that goes wrong is `unknown` (bid 0) with the
 * reason in `metadata.comments`.
 *
 * Run `npm run dev` and edit this file: the engine reloads it on save.
 */
import { defaultBid, scanMetadata, type Bounty, type ScanContext, type ScanResult } from 'polyswarm-engine';
import { clamavProblem, clamVersion, scanFile } from './clamav.js';

// Say at start when ClamAV cannot scan, e.g. no signatures yet: otherwise the first sign is every bounty answered
// `unknown`. Once per process (not on every reload), and not in this project's tests, which set up their own ClamAV.
const probed = Symbol.for('clamav-engine.probed');
if (!process.env.VITEST && !(globalThis as Record<symbol, unknown>)[probed]) {
  (globalThis as Record<symbol, unknown>)[probed] = true;
  void clamavProblem().then((problem) => {
    if (problem) console.warn(`ClamAV cannot scan yet: every file bounty will be answered unknown. ${problem}`);
  });
}

export async function scan(bounty: Bounty, ctx: ScanContext): Promise<ScanResult> {
  // ClamAV scans files; a URL artifact is not something it can judge.
  if (bounty.artifact_type !== 'file') {
    return { verdict: 'unknown', metadata: scanMetadata().comment('SKIPPED:TYPE-UNSUPPORTED').build() };
  }

  // Downloaded once (size-capped, sha256-checked) into a temporary file that is removed after the scan;
  // streamed to clamd when one is configured, else scanned with clamscan (see ./clamav.ts).
  const path = await bounty.artifactPath();
  const [outcome, version] = await Promise.all([scanFile(path, ctx.signal), clamVersion()]);
  const metadata = scanMetadata().scanner({
    vendor_version: version.engine,
    signatures_version: version.signatures,
  });

  switch (outcome.status) {
    case 'found':
      return { verdict: 'malicious', confidence: 1, metadata: metadata.malwareFamily(outcome.signature).build() };
    case 'clean':
      // A signature scanner only knows what it has signatures for: bid less on "clean" than on a match.
      return { verdict: 'benign', confidence: 0.5, metadata: metadata.build() };
    case 'timeout':
      return { verdict: 'unknown', metadata: metadata.comment('SKIPPED:TIMEOUT').build() };
    case 'error':
      ctx.log.warn('clamav failed', { error: outcome.message });
      return { verdict: 'unknown', metadata: metadata.comment(`ERROR:${outcome.message}`.slice(0, 300)).build() };
  }
}

/**
 * The bid for `malicious` / `benign` (`unknown` and `suspicious` always bid 0). Bids are in wei
 * (1 NCT = 10^18 wei), hence `bigint`; `defaultBid` is PolySwarm's reference formula
 * `min + confidence × (max − min)` over the bounty's `rules.min_allowed_bid` / `max_allowed_bid`.
 */
export function computeBid(bounty: Bounty, result: ScanResult): bigint {
  return defaultBid(bounty.rules, result.confidence ?? 1);
}
