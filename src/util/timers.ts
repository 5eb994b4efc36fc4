/**
 * Timers that hold for any deadline: `setTimeout` fires a delay over 2^31−1 ms (24.8 days) at once, and bounties can
 * expire decades ahead (the reference's own fixture uses 2121).
 */

/** The longest delay `setTimeout` honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface DeadlineTimer {
  cancel(): void;
}

/** Calls `fn` at `at` (ms since the epoch), or next turn if past, re-arming in steps of MAX_TIMER_MS. */
export function setDeadline(at: number, fn: () => void, options: { unref?: boolean } = {}): DeadlineTimer {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const arm = () => {
    if (cancelled) return;
    const delay = at - Date.now();
    if (delay > MAX_TIMER_MS) timer = setTimeout(arm, MAX_TIMER_MS);
    else timer = setTimeout(fn, Math.max(0, delay));
    if (options.unref) timer.unref();
  };
  arm();
  return {
    cancel() {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}
