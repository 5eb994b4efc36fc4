import { describe, expect, it } from 'vitest';
import {
  EncryptedFileScanError,
  FileSkippedScanError,
  HighCompressionScanError,
  IllegalFileTypeScanError,
  SCAN_ERROR_KINDS,
  ScanError,
  scanErrorComments,
  scanErrorKind,
  UnprocessableScanError,
} from '../../../src/engine/scan-errors.js';
import { authorFrame } from '../../../src/util/stack.js';

describe('typed scan errors', () => {
  it('carry the reference tags; IllegalFileType is a FileSkipped, as in microengine-utils', () => {
    expect(new EncryptedFileScanError('zip').kind).toBe('encryptedfile');
    expect(new HighCompressionScanError().kind).toBe('highcompression');
    const illegal = new IllegalFileTypeScanError('pe only');
    expect(illegal).toBeInstanceOf(FileSkippedScanError);
    expect(illegal).toBeInstanceOf(ScanError);
    expect(illegal.kind).toBe('illegalfiletype');
    expect(illegal.name).toBe('IllegalFileTypeScanError');
    expect(SCAN_ERROR_KINDS).toHaveLength(8);
    expect(() => new ScanError('nonsense' as never)).toThrow('unknown scan error kind: nonsense');
  });

  it('are recognised when thrown by another copy of the package (the brand, not instanceof), and nothing else is', () => {
    const foreign = new UnprocessableScanError('x');
    Object.setPrototypeOf(foreign, Error.prototype);
    expect(foreign instanceof ScanError).toBe(false);
    expect(scanErrorKind(foreign)).toBe('unprocessable');
    expect(scanErrorKind(Object.assign(new Error('x'), { kind: 'encryptedfile' }))).toBeNull();
    expect(scanErrorKind('encryptedfile')).toBeNull();
    expect(scanErrorKind(null)).toBeNull();
  });

  it('answer comments: the kind’s code first, then the message on one line', () => {
    expect(scanErrorComments('encryptedfile', 'password\nprotected')).toEqual(['SKIPPED:ENCRYPTED', 'password protected']);
    expect(scanErrorComments('highcompression', '')).toEqual(['SKIPPED:DECOMPRESSION-UNSAFE']);
    expect(scanErrorComments('illegalfiletype', 'not a PE')).toEqual(['SKIPPED:TYPE-UNSUPPORTED', 'not a PE']);
    expect(scanErrorComments('calledprocess', 'clamscan exited 2')).toEqual(['ERROR:clamscan exited 2']);
    expect(scanErrorComments('unprocessable', '')).toEqual(['ERROR:unprocessable']);
    expect(scanErrorComments('corruptfile', 'x'.repeat(500))[1]!.length).toBeLessThanOrEqual(194);
  });
});

describe('authorFrame', () => {
  it('skips node’s and dependencies’ frames and turns file URLs into paths', () => {
    const error = new Error('boom');
    error.stack = [
      'Error: boom',
      '    at parse (node:internal/x:1:1)',
      '    at lib (/p/node_modules/lib/index.js:3:4)',
      '    at scan (file:///p/src/scan.mjs:12:9)',
      '    at /p/src/other.js:1:1',
    ].join('\n');
    expect(authorFrame(error)).toBe('/p/src/scan.mjs:12:9');
    expect(authorFrame(new Error('here'))).toMatch(/scan-errors\.test\.ts:\d+:\d+$/);
    expect(authorFrame('not an error')).toBeUndefined();
  });
});
