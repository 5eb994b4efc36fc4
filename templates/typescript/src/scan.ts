/**
 * Your engine's scanner: PolySwarm sends your engine a bounty (an artifact to judge), polyswarm-engine
 * downloads the artifact on demand and calls `scan`; what `scan` returns becomes your answer.
 *
 * This example flags the EICAR test file, the 68 harmless bytes that every anti-malware product agrees to
 * treat as malware, so an engine can be tested without real malware. Replace the comparison with your own
 * analysis: call a library, an HTTP service, or a command-line scanner (see the `clamav` template).
 *
 * Run `npm run dev` and edit this file: the engine reloads it on save.
 */
import { defaultBid, scanMetadata, type Bounty, type ScanContext, type ScanResult } from 'polyswarm-engine';

/** Your engine's own version, sent with every answer (`metadata.scanner.vendor_version`). */
const ENGINE_VERSION = '0.1.0';

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

/**
 * Judges one artifact. Return one of four verdicts:
 * - `malicious` or `benign`: a real opinion; it carries a bid (see `computeBid`);
 * - `suspicious`: worth a look, but not a claim (bids 0);
 * - `unknown`: "I cannot judge this one" (bids 0): for types you do not support, or when you ran out of time.
 *
 * Anything you throw is answered `unknown` for you, with the error in `metadata.comments`, and so is an
 * artifact that cannot be downloaded or whose sha256 does not match.
 */
export async function scan(bounty: Bounty, ctx: ScanContext): Promise<ScanResult> {
  // A bounty is either a file to download or a URL to judge; this scanner only reads files.
  if (bounty.artifact_type !== 'file') {
    return { verdict: 'unknown', metadata: scanMetadata().comment('SKIPPED:TYPE-UNSUPPORTED').build() };
  }

  // The bytes are downloaded once (size-capped, sha256-checked) and cached for this scan.
  // Tools that want a file on disk can use `await bounty.artifactPath()` instead.
  const bytes = await bounty.fetchArtifact();
  ctx.log.debug('scanning', { bytes: bytes.length, mimetype: bounty.mimetype });

  // The EICAR file may legally be followed by whitespace (a trailing newline, say).
  const isEicar = bytes.toString('latin1').trimEnd() === EICAR;

  // `scanMetadata()` builds the `metadata` object PolySwarm expects: the malware family, your versions,
  // optional domains, IP addresses and free comments. The engine fills in the operating system and architecture.
  const metadata = scanMetadata().scanner({ vendor_version: ENGINE_VERSION, signatures_version: '1' });
  if (isEicar) {
    return { verdict: 'malicious', confidence: 1, metadata: metadata.malwareFamily('EICAR-Test-File').build() };
  }
  // `confidence` (0 to 1) only shapes the bid; it is never sent. Be honest: a miss costs you your bid.
  return { verdict: 'benign', confidence: 1, metadata: metadata.build() };
}

/**
 * How much to stake on a `malicious` or `benign` verdict (`unknown` and `suspicious` always bid 0).
 *
 * Bids are in wei: 1 NCT (PolySwarm's token) = 10^18 wei, far beyond what a JavaScript `number` holds exactly,
 * so bids are `bigint`s (note the `n`: `62_500_000_000_000_000n`). Every bounty says how much you may bid,
 * in `bounty.rules.min_allowed_bid` and `max_allowed_bid`; a bid outside them is clamped with a warning.
 *
 * `defaultBid` is PolySwarm's reference formula: `min + confidence × (max − min)`. Delete this function to
 * get exactly that; change it to bid your own way (e.g. lower on file types you are less sure about).
 */
export function computeBid(bounty: Bounty, result: ScanResult): bigint {
  return defaultBid(bounty.rules, result.confidence ?? 1);
}
