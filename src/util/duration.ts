import { UsageError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a human duration (`500ms`, `30s`, `2m`, `1h`, or a bare number of seconds) into milliseconds.
 * Throws a UsageError naming the flag when the value is not one.
 */
export function parseDuration(value: string, flag = 'duration'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!match) {
    throw new UsageError(`${flag}: "${value}" is not a duration`, {
      hint: 'Use a number with a unit, e.g. 500ms, 30s, 2m (a bare number is seconds).',
    });
  }
  const ms = Number(match[1]) * UNITS[match[2] ?? 's'];
  if (!Number.isFinite(ms)) throw new UsageError(`${flag}: "${value}" is too large`);
  return Math.round(ms);
}

/** Formats milliseconds for people: `850ms`, `1.2s`, `2m 05s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m ${String(s).padStart(2, '0')}s`;
}
