import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bidRange, clampBid, DEFAULT_MAX_BID, DEFAULT_MIN_BID, defaultBid, finalBid } from '../../../src/protocol/bid.js';

const RULES = { min_allowed_bid: 62_500_000_000_000_000n, max_allowed_bid: 1_000_000_000_000_000_000n };

describe('bid constants and bidRange', () => {
  it('are the reference defaults', () => {
    expect(DEFAULT_MIN_BID).toBe(62500000000000000n);
    expect(DEFAULT_MAX_BID).toBe(10n ** 18n);
  });

  it('fills a missing bound with its default', () => {
    expect(bidRange({})).toEqual({ min: DEFAULT_MIN_BID, max: DEFAULT_MAX_BID });
    expect(bidRange({ min_allowed_bid: 5n })).toEqual({ min: 5n, max: DEFAULT_MAX_BID });
    expect(bidRange({ max_allowed_bid: 10n ** 17n })).toEqual({ min: DEFAULT_MIN_BID, max: 10n ** 17n });
    expect(bidRange({ min_allowed_bid: 0n, max_allowed_bid: 0n })).toEqual({ min: 0n, max: 0n });
  });

  it('lets a given bound win over a default it contradicts, and never returns min > max', () => {
    expect(bidRange({ min_allowed_bid: 2n * 10n ** 18n })).toEqual({ min: 2n * 10n ** 18n, max: 2n * 10n ** 18n });
    expect(bidRange({ max_allowed_bid: 1n })).toEqual({ min: 1n, max: 1n });
    expect(bidRange({ min_allowed_bid: 10n, max_allowed_bid: 9n })).toEqual({ min: 9n, max: 9n });
  });
});

describe('defaultBid', () => {
  // docs/protocol.md §15, observed from the Python reference with min=6.25e16, max=1e18.
  const reference: Array<[number, bigint]> = [
    [1.0, 1_000_000_000_000_000_000n],
    [0.5, 531_250_000_000_000_000n],
    [0.0, 62_500_000_000_000_000n],
    [1.7, 1_000_000_000_000_000_000n],
    [-0.3, 62_500_000_000_000_000n],
    [-5, 62_500_000_000_000_000n],
  ];
  for (const [confidence, expected] of reference) {
    it(`gives ${expected} for confidence ${confidence}`, () => {
      expect(defaultBid(RULES, confidence)).toBe(expected);
      expect(defaultBid({}, confidence)).toBe(expected); // the defaults are the same range
    });
  }

  it('matches Python bit for bit where doubles round (values computed with CPython 3)', () => {
    const cases: Array<[bigint, bigint, number, bigint]> = [
      [62500000000000000n, 10n ** 18n, 0.3, 343750000000000000n],
      [62500000000000000n, 999900000000000000n, 0.77, 784298000000000000n],
      [1n, 10n ** 30n, 0.123456789, 123456788999999991885143736320n],
      [62500000000000000n, 10n ** 18n, 0.1, 156250000000000000n],
      [62500000000000000n, 10n ** 18n, 1 / 3, 375000000000000000n],
      [123n, 456n, 0.5, 289n],
      [0n, 10n ** 25n + 1n, 0.9999999, 9999999000000001566834688n],
    ];
    for (const [min, max, confidence, expected] of cases) {
      expect(defaultBid({ min_allowed_bid: min, max_allowed_bid: max }, confidence)).toBe(expected);
    }
  });

  it('gives exactly max for confidence 1 beyond 2^64', () => {
    expect(defaultBid({ min_allowed_bid: 2n ** 64n, max_allowed_bid: 2n ** 70n }, 1)).toBe(2n ** 70n);
  });

  it('returns the exact integer max when the double rounds above it (Python min(float, int))', () => {
    // float(2^60 - 1) is 2^60, above max: Python's min() keeps the int max, not the float.
    expect(defaultBid({ min_allowed_bid: 0n, max_allowed_bid: 2n ** 60n - 1n }, 1)).toBe(2n ** 60n - 1n);
    expect(defaultBid({ min_allowed_bid: 0n, max_allowed_bid: 2n ** 60n - 1n }, 1)).not.toBe(2n ** 60n);
  });

  it('treats NaN and ±Infinity confidence as 0', () => {
    for (const confidence of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(defaultBid(RULES, confidence)).toBe(RULES.min_allowed_bid);
    }
  });

  it('does not throw on ranges beyond the double range', () => {
    expect(defaultBid({ min_allowed_bid: 0n, max_allowed_bid: 10n ** 400n }, 1)).toBe(10n ** 400n);
  });

  // Like Python, a min beyond 2^53 is rounded to a double first, so the bid may land a rounding step below
  // min (finalBid clamps it afterwards); it never exceeds max.
  it('stays within [min - rounding, max] for any range and confidence', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 100n }), fc.bigInt({ min: 0n, max: 2n ** 100n }), fc.double(), (min, span, c) => {
        const bid = defaultBid({ min_allowed_bid: min, max_allowed_bid: min + span }, c);
        expect(bid >= min - (min >> 50n) && bid <= min + span).toBe(true);
      }),
    );
  });
});

describe('clampBid', () => {
  it('clamps into [min, max] and says whether it moved', () => {
    expect(clampBid(5n, { min_allowed_bid: 10n, max_allowed_bid: 20n })).toEqual({ bid: 10n, clamped: true });
    expect(clampBid(25n, { min_allowed_bid: 10n, max_allowed_bid: 20n })).toEqual({ bid: 20n, clamped: true });
    expect(clampBid(10n, { min_allowed_bid: 10n, max_allowed_bid: 20n })).toEqual({ bid: 10n, clamped: false });
    expect(clampBid(20n, { min_allowed_bid: 10n, max_allowed_bid: 20n })).toEqual({ bid: 20n, clamped: false });
    expect(clampBid(2n ** 80n, {})).toEqual({ bid: DEFAULT_MAX_BID, clamped: true });
  });
});

describe('finalBid', () => {
  it('bids 0 for unknown and suspicious, whatever was asked', () => {
    expect(finalBid('unknown', 10n ** 18n, RULES)).toEqual({ bid: 0n });
    expect(finalBid('suspicious', 5, RULES)).toEqual({ bid: 0n });
  });

  it('keeps an in-range bid of malicious/benign without a warning', () => {
    expect(finalBid('malicious', 10n ** 17n, RULES)).toEqual({ bid: 10n ** 17n });
    expect(finalBid('benign', 5_000_000_000_000_000, { min_allowed_bid: 0n })).toEqual({ bid: 5_000_000_000_000_000n });
  });

  it('clamps an out-of-range bid with a warning', () => {
    expect(finalBid('malicious', 10n ** 19n, RULES)).toEqual({
      bid: 10n ** 18n,
      warning:
        "bid 10000000000000000000 is outside the bounty's rules [62500000000000000, 1000000000000000000]; clamped to 1000000000000000000",
    });
    expect(finalBid('benign', 0n, RULES)).toMatchObject({ bid: 62_500_000_000_000_000n, warning: expect.stringContaining('clamped') });
  });

  it('truncates a number that is not a safe integer, with a warning', () => {
    expect(finalBid('malicious', 1.5e17, RULES)).toEqual({
      bid: 150_000_000_000_000_000n,
      warning: 'bid 150000000000000000 is a number but not a safe integer (wei exceed 2^53: return a bigint); used 150000000000000000',
    });
    const small = finalBid('benign', 10.75, { min_allowed_bid: 0n, max_allowed_bid: 100n });
    expect(small).toEqual({
      bid: 10n,
      warning: 'bid 10.75 is a number but not a safe integer (wei exceed 2^53: return a bigint); used 10',
    });
  });

  it('maps NaN to the minimum and ±Infinity to the matching bound, with warnings', () => {
    expect(finalBid('malicious', Number.NaN, RULES)).toMatchObject({ bid: RULES.min_allowed_bid, warning: expect.stringContaining('NaN') });
    expect(finalBid('malicious', Number.POSITIVE_INFINITY, RULES)).toMatchObject({ bid: RULES.max_allowed_bid });
    expect(finalBid('malicious', Number.NEGATIVE_INFINITY, RULES)).toMatchObject({ bid: RULES.min_allowed_bid });
  });

  it('reports both a truncation and a clamp in one warning', () => {
    const result = finalBid('malicious', 1e21, RULES);
    expect(result.bid).toBe(RULES.max_allowed_bid);
    expect(result.warning).toMatch(/not a safe integer.*; bid 1000000000000000000000 is outside/);
  });
});
