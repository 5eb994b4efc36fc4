/**
 * Cancellation for the engine's own per-bounty work, and work raced against it (an author's `scan` may ignore the
 * signal it was given).
 */
import { EventEmitter } from 'node:events';

export const ABORTED = Symbol('aborted');

/**
 * A one-shot cancellation: a scan's deadline, an answer attempt's timeout. An AbortController costs ~6 µs to make
 * and its EventTarget ~1 µs per listener; there were two per bounty, about 4 % of the CPU of one (npm run bench,
 * figure 11). This is an EventEmitter with `aborted` and `reason`, which undici takes as a request's `signal` (one of
 * the signal types it documents). The web AbortSignal author code sees (`signal`) is made on first use only.
 */
export class Cancellation extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;
  #controller: AbortController | undefined;

  /** Fires once: later calls are ignored. Without a reason, an AbortError as AbortController gives. */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason ?? new DOMException('This operation was aborted', 'AbortError');
    this.#controller?.abort(this.reason);
    this.emit('abort');
  }

  /** An AbortSignal that fires with this (already aborted if this has). */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }
}

/** An AbortSignal or a Cancellation: what `raceSignal` and the engine's downloads take. */
export type Abortable = AbortSignal | Cancellation;

/** Calls `listener` once when `signal` fires; returns what removes it. */
function onAbort(signal: Abortable, listener: () => void): () => void {
  if (signal instanceof Cancellation) {
    signal.once('abort', listener);
    return () => signal.off('abort', listener);
  }
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/**
 * `work()`'s result, or ABORTED as soon as `signal` fires (at once if it already has); the work is not awaited
 * after that (it may ignore its signal). What `work` throws is thrown.
 */
export async function raceSignal<T>(signal: Abortable, work: () => T | Promise<T>): Promise<T | typeof ABORTED> {
  let remove = () => {};
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    const fire = () => resolve(ABORTED);
    if (signal.aborted) fire();
    else remove = onAbort(signal, fire);
  });
  try {
    return await Promise.race([Promise.resolve().then(work), aborted]);
  } finally {
    remove();
  }
}
