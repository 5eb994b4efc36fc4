/**
 * The one polling helper of the test suite: waits for a condition that real servers and processes make true, with a
 * deadline that names what was awaited. Prefer awaiting an event; poll only what has none.
 */

export interface PollOptions {
  /** Fail after this long (default 5 s). */
  timeoutMs?: number;
  /** Check this often (default 10 ms). */
  everyMs?: number;
  /** Extra text for the failure message (e.g. the output so far), computed only on failure. */
  detail?: () => string;
}

/**
 * Resolves with the first truthy value `probe` returns (sync or async); rejects after the deadline with
 * `timed out after N ms waiting for <what>`.
 */
export async function until<T>(probe: () => T | Promise<T>, what: string, options: PollOptions | number = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 5000, everyMs = 10, detail } = typeof options === 'number' ? { timeoutMs: options } : options;
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `:\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Asserts that `probe` stays truthy for `forMs`, checking as `until` does and failing at once when it turns false:
 * for what must NOT happen (a second answer, a scan of an expired job) when nothing marks the moment it could have.
 */
export async function holds(
  probe: () => unknown,
  what: string,
  forMs: number,
  options: Omit<PollOptions, 'timeoutMs'> = {},
): Promise<void> {
  const { everyMs = 10, detail } = options;
  const end = Date.now() + forMs;
  for (;;) {
    if (!(await probe()))
      throw new Error(`${what} stopped holding after ${forMs - (end - Date.now())} ms${detail ? `:\n${detail()}` : ''}`);
    if (Date.now() >= end) return;
    await new Promise((r) => setTimeout(r, Math.min(everyMs, Math.max(0, end - Date.now()))));
  }
}

/** `promise`'s value if it settles within `ms`, else `undefined` (it is left running): a deadline for a race. */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Stands for time that passes on purpose in what the test drives (a scan or an answer slow by design, a sender's pace), ending
 * early when `signal` aborts. Never a wait of the test itself: poll for the condition with `until` instead.
 */
export function work(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
