import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS, setDeadline } from '../../../src/util/timers.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('setDeadline (fake clock)', () => {
  it('a deadline 30 days away fires then, not at once (setTimeout alone would fire past 2^31-1 ms)', async () => {
    let fired = 0;
    setDeadline(Date.now() + 30 * 24 * 3600 * 1000, () => fired++);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 1);
    expect(fired).toBe(0);
    await vi.advanceTimersByTimeAsync(30 * 24 * 3600 * 1000 - MAX_TIMER_MS - 2);
    expect(fired).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toBe(1);
  });

  it('a deadline in the past fires on the next turn; a cancelled one never fires', async () => {
    let past = 0;
    let cancelled = 0;
    setDeadline(Date.now() - 1000, () => past++);
    setDeadline(Date.now() + 5000, () => cancelled++).cancel();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(past).toBe(1);
    expect(cancelled).toBe(0);
  });
});
