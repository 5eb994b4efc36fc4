/**
 * The library's errors carry a code and the facts, never a flag name or an exit code (as h3's `HTTPError` a status);
 * runtime/engine-errors.ts turns a code into the flag, variable and exit code a user of the CLI needs.
 */

/** Every code the engine library throws. */
export type EngineErrorCode =
  /** An option of createEngine / createRedisWorker is missing or out of range. data: { option, value?, expected } */
  | 'INVALID_OPTION'
  /** Another live process holds the journal folder. data: { dir, pid? } */
  | 'JOURNAL_LOCKED'
  /** The journal folder or file cannot be created, opened or written. data: { dir, path?, reason } */
  | 'JOURNAL_UNAVAILABLE'
  /** The journal file is damaged. data: { path, reason } */
  | 'JOURNAL_DAMAGED'
  /** The queue URL cannot be used. data: { url (password masked), reason } */
  | 'QUEUE_URL_INVALID'
  /** A TLS file for the queue is unusable, or Redis's certificate (or ours) failed the handshake. data: { file, role, reason } */
  | 'QUEUE_TLS_INVALID'
  /** Redis is configured to evict keys (maxmemory-policy), which would lose accepted bounties. data: { url, policy } */
  | 'QUEUE_EVICTS'
  /** The Redis queue belongs to another engine project. data: { queueName, owner, role } */
  | 'QUEUE_OWNED'
  /** Redis has a memory limit and another engine runs on it. data: { url, maxmemory, others: { queueName, engine, db }[] } */
  | 'QUEUE_SHARED'
  /** Jobs of an older queue layout wait in Redis. data: { queueName, legacy, waiting } */
  | 'QUEUE_LEGACY_JOBS'
  /** Redis did not answer in time. data: { url, timeoutMs, reason } */
  | 'QUEUE_UNREACHABLE'
  /** The scan module cannot be loaded or does not export a scan function. data: { file?, reason } */
  | 'SCAN_MODULE_INVALID';

/** An error of the engine library: a code and the data that explain it. */
export class EngineError<Data extends Record<string, unknown> = Record<string, unknown>> extends Error {
  readonly code: EngineErrorCode;
  readonly data: Data;
  constructor(code: EngineErrorCode, message: string, data: Data, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineError';
    this.code = code;
    this.data = data;
  }
}

/** Whether `error` is an EngineError with this code (also one thrown by another copy of this package). */
export function isEngineError(error: unknown, code?: EngineErrorCode): error is EngineError {
  const e = error as { name?: unknown; code?: unknown } | null;
  return Boolean(e && e.name === 'EngineError' && typeof e.code === 'string' && (code === undefined || e.code === code));
}

/** An option that must be a whole number ≥ `min`; `fallback` when absent. Throws INVALID_OPTION. */
export function integerOption(owner: string, option: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new EngineError('INVALID_OPTION', `${owner}: ${option} must be an integer ≥ ${min}, got ${value}`, {
      option,
      value,
      expected: `an integer ≥ ${min}`,
    });
  }
  return value;
}
