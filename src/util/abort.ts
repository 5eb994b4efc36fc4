/** Work raced against an AbortSignal, for code that may ignore the signal it was given (an author's `scan`). */

export const ABORTED = Symbol('aborted');

/**
 * `work()`'s result, or ABORTED as soon as `signal` fires (at once if it already has); the work is not awaited
 * after that (it may ignore its signal). What `work` throws is thrown.
 */
export async function raceSignal<T>(signal: AbortSignal, work: () => T | Promise<T>): Promise<T | typeof ABORTED> {
  let onAbort = () => {};
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => resolve(ABORTED);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([Promise.resolve().then(work), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
