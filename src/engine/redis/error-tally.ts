/**
 * Errors of a loop that retries (the worker taking jobs, the deadline watchdog, the memory gauge): logged once per
 * change with a count, never once per attempt. A Redis at its memory limit refuses every write, and a loop that
 * logs each refusal writes thousands of lines a second (issue 24: 155 MB of log in 70 s); this says the same thing
 * once, then once a minute with how many times it happened, then once when it stops.
 */
import { errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';

/** While the same error goes on, how often its count is logged again. */
export const REPEAT_LOG_MS = 60_000;

/** Longest wait between retries of a loop that keeps failing. */
export const MAX_BACKOFF_MS = 5000;

/** A Redis error text without the script SHA and line, so one cause stays one message across scripts. */
function cause(error: unknown): string {
  return errorMessage(error).replace(/\.?\s*script: [0-9a-f]{40}.*$/s, '');
}

const clock = (at: number) => new Date(at).toISOString().slice(11, 19);

export class ErrorTally {
  readonly #logger: Logger;
  readonly #what: string;
  readonly #fields: Record<string, unknown>;
  #message: string | null = null;
  #count = 0;
  #since = 0;
  #loggedAt = 0;
  #loggedCount = 0;

  /** `what`: the loop, e.g. 'deadline watchdog'; `fields` go on every line (no URL with a password: use `display`). */
  constructor(logger: Logger, what: string, fields: Record<string, unknown> = {}) {
    this.#logger = logger;
    this.#what = what;
    this.#fields = fields;
  }

  /** Failures in a row (0 after a success): what `backoffMs` grows with. */
  get failures(): number {
    return this.#message === null ? 0 : this.#count;
  }

  /** Counts a failure; logs it when it is a new one, or when the same one has gone on for a minute since its last line. */
  failed(error: unknown): void {
    const message = cause(error);
    const now = Date.now();
    if (message !== this.#message) {
      this.#message = message;
      this.#count = 0;
      this.#since = now;
      this.#loggedAt = 0;
      this.#loggedCount = 0;
    }
    this.#count++;
    if (this.#loggedAt !== 0 && now - this.#loggedAt < REPEAT_LOG_MS) return;
    this.#logger.error(`${this.#what}: ${message} (×${this.#count.toLocaleString('en-US')} since ${clock(this.#since)})`, this.#fields);
    this.#loggedAt = now;
    this.#loggedCount = this.#count;
  }

  /** The loop works again: says so once, with how many attempts failed since the last line. */
  succeeded(): void {
    if (this.#message === null) return;
    const unlogged = this.#count - this.#loggedCount;
    const fields = unlogged > 0 ? { ...this.#fields, not_logged: unlogged } : this.#fields;
    const count = this.#count.toLocaleString('en-US');
    this.#logger.info(`${this.#what}: working again after ${count} failed attempts since ${clock(this.#since)}`, fields);
    this.#message = null;
    this.#count = 0;
  }

  /** How long to wait before the next attempt: doubling from `baseMs` with each failure in a row, at most MAX_BACKOFF_MS. */
  backoffMs(baseMs: number): number {
    const failures = this.failures;
    if (failures === 0) return baseMs;
    return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.min(failures, 10));
  }
}
