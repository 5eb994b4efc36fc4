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
