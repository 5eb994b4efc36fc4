import { describe, expect, it } from 'vitest';
import { formatMs, histogramLines, LatencyHistogram } from '../../../src/simulator/stats.js';

describe('LatencyHistogram', () => {
  it('percentiles within 2 % of the exact values, min/max/mean exact', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i);
    const s = h.summary();
    expect(s).toMatchObject({ count: 1000, min: 1, max: 1000, mean: 500.5 });
    for (const [got, exact] of [
      [s.p50, 500],
      [s.p95, 950],
      [s.p99, 990],
    ])
      expect(Math.abs(got - exact) / exact).toBeLessThanOrEqual(0.02);
  });

  it('an empty histogram answers zeros and no bins; reset empties it', () => {
    const h = new LatencyHistogram();
    expect(h.summary()).toEqual({ count: 0, min: 0, max: 0, mean: 0, p50: 0, p95: 0, p99: 0 });
    expect(h.bins()).toEqual([]);
    h.record(5);
    h.reset();
    expect(h.count).toBe(0);
  });

  it('bins cover every value once, on a log scale from the smallest to the largest', () => {
    const h = new LatencyHistogram();
    const values = [0.2, 0.5, 1, 3, 10, 30, 100, 300, 1000, 5000];
    for (const v of values) h.record(v);
    const bins = h.bins(5);
    expect(bins).toHaveLength(5);
    expect(bins.reduce((sum, b) => sum + b.count, 0)).toBe(values.length);
    expect(bins[0].from).toBeCloseTo(0.2);
    expect(bins[4].to).toBeCloseTo(5000);
    // One value only: one non-empty bin.
    const one = new LatencyHistogram();
    one.record(7);
    expect(one.bins(4).filter((b) => b.count > 0)).toEqual([expect.objectContaining({ count: 1 })]);
  });

  it('negative values count as 0; huge ones land in the last bucket', () => {
    const h = new LatencyHistogram();
    h.record(-3);
    h.record(1e12);
    expect(h.summary()).toMatchObject({ count: 2, min: 0, max: 1e12 });
  });
});

describe('formatting', () => {
  it('formatMs picks the unit', () => {
    expect([0.25, 1.234, 99.94, 250.4, 1234].map(formatMs)).toEqual(['250µs', '1.2ms', '99.9ms', '250ms', '1.23s']);
  });

  it('histogramLines draws bars proportional to the counts', () => {
    const lines = histogramLines(
      [
        { from: 1, to: 2, count: 10 },
        { from: 2, to: 4, count: 5 },
        { from: 4, to: 8, count: 0 },
      ],
      10,
    );
    expect(lines).toEqual(['   1.0ms –    2.0ms │██████████ 10', '   2.0ms –    4.0ms │█████ 5', '   4.0ms –    8.0ms │ 0']);
  });
});

describe('progressLine', () => {
  it('names the tick it belongs to: a tick a millisecond early reads 5s, not 4s', async () => {
    const { progressLine } = await import('../../../src/simulator/load-report.js');
    const at = (elapsedMs: number) => progressLine({ elapsedMs, sent: 3, acknowledged: 2, answered: 1, lost: 0, currentP99: 0 });
    expect(at(4999.4)).toBe('5s  sent 3  acknowledged 2  answered 1  lost 0  p99 –');
    expect(at(5001)).toMatch(/^5s /);
    expect(at(10_000)).toMatch(/^10s /);
  });
});
