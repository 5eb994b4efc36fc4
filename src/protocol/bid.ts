import type { BidRules, Verdict } from './types.js';

/** 1/16 NCT in wei: the reference's `DEFAULT_MIN_BID` (and the chain-era assertion minimum). */
export const DEFAULT_MIN_BID = 62_500_000_000_000_000n;
/** 1 NCT in wei: the reference's `DEFAULT_MAX_BID`. */
export const DEFAULT_MAX_BID = 1_000_000_000_000_000_000n;

/**
 * The bid range of a bounty's rules, with the reference defaults for a missing bound.
 * A bound the bounty gave always wins over a default: `{ min_allowed_bid: 2 NCT }` alone gives
 * [2 NCT, 2 NCT], not an empty range. Both given and inverted (parseBounty rejects that) collapses
 * to the max, since a bid above `max_allowed_bid` is never acceptable.
 */
export function bidRange(rules: BidRules): { min: bigint; max: bigint } {
  const givenMin = rules.min_allowed_bid;
  const givenMax = rules.max_allowed_bid;
  let min = givenMin ?? DEFAULT_MIN_BID;
  let max = givenMax ?? DEFAULT_MAX_BID;
  if (min > max) {
    if (givenMax === undefined) max = min;
    else min = max;
  }
  return { min, max };
}

/**
 * The reference bid (`compute_bid`, docs/protocol.md §8), reproduced bit for bit as Python computes it:
 * `min + max(confidence * (max - min), 0)` in IEEE doubles, then Python's exact `min(float, int)` against the
 * integer max (so a double that rounded above max yields max exactly), then `int()` truncation.
 * A NaN or ±Infinity confidence is treated as 0 (the minimum bid): Python would raise or bid nonsense.
 */
export function defaultBid(rules: BidRules, confidence: number): bigint {
  const { min, max } = bidRange(rules);
  const c = Number.isFinite(confidence) ? confidence : 0;
  const bid = Number(min) + Math.max(c * Number(max - min), 0);
  // Beyond ~1.8e308 wei Python raises OverflowError; clamping is the only sane answer here.
  if (!Number.isFinite(bid)) return bid > 0 ? max : min;
  const whole = Math.trunc(bid);
  const truncated = BigInt(whole);
  // Python's min(float, int) compares exactly: the float is greater iff its integer part is, or equal with a fraction.
  const aboveMax = truncated > max || (truncated === max && bid - whole > 0);
  return aboveMax ? max : truncated;
}

/** Clamps a bid into the rules' range ([min, max], defaults applied); `clamped` says whether it moved. */
export function clampBid(bid: bigint, rules: BidRules): { bid: bigint; clamped: boolean } {
  const { min, max } = bidRange(rules);
  if (bid < min) return { bid: min, clamped: true };
  if (bid > max) return { bid: max, clamped: true };
  return { bid, clamped: false };
}

/**
 * The bid actually sent for a verdict. `unknown` and `suspicious` always bid 0 (they are informational);
 * `malicious` and `benign` bids are clamped into the rules, with a warning when that changed them.
 * A `number` bid must be a safe integer: an author's `1.5e17` or `0.5` is truncated with a warning
 * (bids are wei, use a bigint); NaN counts as the minimum and ±Infinity as the matching bound.
 */
export function finalBid(verdict: Verdict, bid: bigint | number, rules: BidRules): { bid: bigint; warning?: string } {
  if (verdict === 'unknown' || verdict === 'suspicious') return { bid: 0n };
  const warnings: string[] = [];
  const { min, max } = bidRange(rules);
  let wei: bigint;
  if (typeof bid === 'bigint') wei = bid;
  else if (Number.isSafeInteger(bid)) wei = BigInt(bid);
  else {
    if (Number.isNaN(bid)) wei = min;
    else if (!Number.isFinite(bid)) wei = bid > 0 ? max : min;
    else wei = BigInt(Math.trunc(bid));
    warnings.push(`bid ${bid} is a number but not a safe integer (wei exceed 2^53: return a bigint); used ${wei}`);
  }
  const clamped = clampBid(wei, rules);
  if (clamped.clamped) warnings.push(`bid ${wei} is outside the bounty's rules [${min}, ${max}]; clamped to ${clamped.bid}`);
  return warnings.length > 0 ? { bid: clamped.bid, warning: warnings.join('; ') } : { bid: clamped.bid };
}

const WEI_PER_NCT = 10n ** 18n;

/** Wei as NCT, exactly, without trailing zeros: `531250000000000000` → `0.53125`, `-1500000000000000000` → `-1.5`. */
export function weiToNct(wei: bigint | string): string {
  const value = typeof wei === 'bigint' ? wei : BigInt(wei);
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  const fraction = (abs % WEI_PER_NCT).toString().padStart(18, '0').replace(/0+$/, '');
  return `${sign}${abs / WEI_PER_NCT}${fraction ? `.${fraction}` : ''}`;
}
