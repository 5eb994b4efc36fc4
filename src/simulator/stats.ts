/**
 * Latency statistics in fixed memory, for `test load` and `test corpus`: a log-bucketed histogram (2 % wide
 * buckets from 10 µs to about 3 hours), so a run of millions of bounties keeps the same few kilobytes and the
 * percentiles stay within 2 % of the exact value.
 */

const MIN_MS = 0.01;
const GROWTH = 1.02;
const BUCKETS = 1024;
const LOG_GROWTH = Math.log(GROWTH);

export interface LatencySummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private n = 0;
  private sum = 0;
  private lowest = Infinity;
  private highest = 0;

  record(ms: number): void {
    const value = Math.max(0, ms);
    const index = value <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(value / MIN_MS) / LOG_GROWTH) + 1);
    this.counts[index]++;
    this.n++;
    this.sum += value;
    if (value < this.lowest) this.lowest = value;
    if (value > this.highest) this.highest = value;
  }

  get count(): number {
    return this.n;
  }

  /** The value at quantile `q` (0..1): the upper edge of its bucket, clamped to the largest value seen. */
  quantile(q: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.highest, Math.max(this.lowest, i === 0 ? MIN_MS : MIN_MS * GROWTH ** i));
    }
    return this.highest;
  }

  summary(): LatencySummary {
    return {
      count: this.n,
      min: this.n === 0 ? 0 : this.lowest,
      max: this.highest,
      mean: this.n === 0 ? 0 : this.sum / this.n,
      p50: this.quantile(0.5),
      p95: this.quantile(0.95),
      p99: this.quantile(0.99),
    };
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.sum = 0;
    this.lowest = Infinity;
    this.highest = 0;
  }

  /**
   * The histogram regrouped into at most `bins` ranges of equal width on a log scale, between the smallest and
   * the largest value seen: for a terminal bar chart or a page's chart.
   */
  bins(bins = 12): { from: number; to: number; count: number }[] {
    if (this.n === 0) return [];
    const lo = Math.max(MIN_MS, this.lowest);
    const hi = Math.max(lo * 1.0001, this.highest);
    const ratio = (hi / lo) ** (1 / bins);
    const out = Array.from({ length: bins }, (_, i) => ({ from: lo * ratio ** i, to: lo * ratio ** (i + 1), count: 0 }));
    for (let i = 0; i < BUCKETS; i++) {
      if (this.counts[i] === 0) continue;
      // The bucket's middle, clamped into the seen range.
      const middle = Math.min(hi, Math.max(lo, i === 0 ? MIN_MS : MIN_MS * GROWTH ** (i - 0.5)));
      const at = Math.min(bins - 1, Math.max(0, Math.floor(Math.log(middle / lo) / Math.log(ratio))));
      out[at].count += this.counts[i];
    }
    return out;
  }
}

/** A latency for people: `850µs`, `12.3ms`, `1.25s`. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 1000)}µs`;
  if (ms < 100) return `${ms.toFixed(1)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}

/** A terminal bar chart of `bins`, one line each: `  1.2ms –   2.5ms │████████ 120`. */
export function histogramLines(bins: { from: number; to: number; count: number }[], width = 40): string[] {
  const most = Math.max(1, ...bins.map((b) => b.count));
  return bins.map((b) => {
    const bar = '█'.repeat(Math.round((b.count / most) * width)) || (b.count > 0 ? '▏' : '');
    return `${formatMs(b.from).padStart(8)} – ${formatMs(b.to).padStart(8)} │${bar} ${b.count}`;
  });
}
