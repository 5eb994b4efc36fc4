/**
 * Typed scan errors: what a scan throws when it cannot give a verdict for a reason it knows (the file is encrypted,
 * the scanner's daemon is not up yet). The engine answers `unknown`, bid 0, with the kind's comment (and the
 * message, when there is one) in `metadata.comments`, and counts the failure under its `scan_error` tag: the same
 * kinds and tags as the reference's microengine-utils, so dashboards built on them keep working
 * (docs/protocol.md §7). Any other throw is an `unprocessable` failure with an `ERROR:<message>` comment.
 */
import { errorComment, SKIP } from '../protocol/answer.js';

/** The `scan_error` tags, as the reference spells them (its class name without `ScanError`, lowercased). */
export const SCAN_ERROR_KINDS = [
  'unprocessable',
  'calledprocess',
  'fileskipped',
  'illegalfiletype',
  'encryptedfile',
  'corruptfile',
  'highcompression',
  'servernotready',
] as const;
export type ScanErrorKind = (typeof SCAN_ERROR_KINDS)[number];

/** The first `metadata.comments` entry of the `unknown` answer, per kind (`null`: `ERROR:<message>`). */
const COMMENT: Record<ScanErrorKind, string | null> = {
  unprocessable: null,
  calledprocess: null,
  fileskipped: 'SKIPPED',
  illegalfiletype: SKIP.TYPE_UNSUPPORTED,
  encryptedfile: 'SKIPPED:ENCRYPTED',
  corruptfile: 'SKIPPED:CORRUPT-FILE',
  highcompression: 'SKIPPED:DECOMPRESSION-UNSAFE',
  servernotready: 'SKIPPED:SERVER-NOT-READY',
};

/** Marks a ScanError across copies of this package (an engine project may bundle its own). */
const BRAND = Symbol.for('polyswarm-engine.ScanError');

/** Base class: throw a subclass (`new EncryptedFileScanError('password-protected zip')`), or this with a kind. */
export class ScanError extends Error {
  readonly kind: ScanErrorKind;
  constructor(kind: ScanErrorKind, message = '', options?: { cause?: unknown }) {
    super(message, options);
    if (!(SCAN_ERROR_KINDS as readonly string[]).includes(kind)) throw new TypeError(`unknown scan error kind: ${String(kind)}`);
    this.kind = kind;
    this.name = 'ScanError';
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** The base of the classes below, one per kind: their name is the subclass's own (`EncryptedFileScanError`). */
function ofKind(kind: ScanErrorKind): new (message?: string, options?: { cause?: unknown }) => ScanError {
  return class extends ScanError {
    constructor(message = '', options?: { cause?: unknown }) {
      super(kind, message, options);
      this.name = new.target.name;
    }
  };
}

/** The scanner could not make sense of the file (the catch-all; any other throw counts as this too). */
export class UnprocessableScanError extends ofKind('unprocessable') {}
/** The scanner's command line tool failed (exit status, crash). */
export class CalledProcessScanError extends ofKind('calledprocess') {}
/** The scanner chose not to scan this file. */
export class FileSkippedScanError extends ofKind('fileskipped') {}
/** The file is encrypted (a password-protected archive or document). */
export class EncryptedFileScanError extends ofKind('encryptedfile') {}
/** The file is damaged or truncated. */
export class CorruptFileScanError extends ofKind('corruptfile') {}
/** The file decompresses to too much (a zip bomb). */
export class HighCompressionScanError extends ofKind('highcompression') {}
/** The scanner's backend is not ready yet (signatures loading, daemon starting). */
export class ServerNotReadyScanError extends ofKind('servernotready') {}

/** The scanner does not take this type of file (a kind of skip, as in the reference). */
export class IllegalFileTypeScanError extends FileSkippedScanError {
  constructor(message = '', options?: { cause?: unknown }) {
    super(message, options);
    Object.defineProperty(this, 'kind', { value: 'illegalfiletype' });
  }
}

/** The kind of a thrown typed scan error (also one thrown by another copy of this package), else null. */
export function scanErrorKind(error: unknown): ScanErrorKind | null {
  if (error instanceof ScanError) return error.kind;
  const e = error as { kind?: unknown } | null;
  if (
    e &&
    typeof e === 'object' &&
    (e as Record<symbol, unknown>)[BRAND] === true &&
    typeof e.kind === 'string' &&
    (SCAN_ERROR_KINDS as readonly string[]).includes(e.kind)
  ) {
    return e.kind as ScanErrorKind;
  }
  return null;
}

/** `metadata.comments` of the `unknown` answer for a scan error: the kind's comment, then the message (one line). */
export function scanErrorComments(kind: ScanErrorKind, message: string): string[] {
  const code = COMMENT[kind];
  if (code === null) return [errorComment(message || kind)];
  const detail = errorComment(message).slice('ERROR:'.length);
  return detail ? [code, detail] : [code];
}
