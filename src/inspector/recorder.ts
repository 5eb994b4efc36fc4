/**
 * `start --record FILE`: one JSON line per delivery (a Transaction, transaction.ts), appended once the delivery can
 * change no more — at its acknowledgement, or for a bounty at its answer. `worker --record FILE`: one line per
 * bounty the worker takes from the shared queue (`source: 'queue'`), appended at its answer. The file is rotated
 * to `FILE.1` when it would pass `--record-max-bytes` (one previous file is kept). The secret is never written: only the protocol
 * headers, whose signature is an HMAC of the body. Artifact bytes are written only with `--record-artifacts DIR`,
 * as DIR/<sha256>, mode 0600 (never executable: they may be malware).
 */
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineObserver } from '../engine/observer.js';
import type { Logger } from '../util/logger.js';
import type { Transaction } from '../simulator/recording.js';
import { TransactionTracker } from './transaction.js';

export interface RecorderOptions {
  file: string;
  /** Rotate when the file would pass this many bytes. */
  maxBytes: number;
  /** Bytes of each request body kept (the rest is cut and marked `truncated`). */
  maxBodyBytes: number;
  artifactsDir?: string;
  logger: Logger;
}

export interface Recorder {
  observer: EngineObserver;
  /** Writes what is still open (bounties without an answer yet) and closes the file. */
  close(): void;
}

/** Opens (appends to) the recording; throws with the path when it cannot be written. */
export function createRecorder(options: RecorderOptions): Recorder {
  let fd = openSync(options.file, 'a', 0o600);
  let size = fstatSync(fd).size;
  let failed = false;
  if (options.artifactsDir) mkdirSync(options.artifactsDir, { recursive: true, mode: 0o700 });

  const write = (tx: Transaction) => {
    if (failed) return;
    const { rev: _rev, ...line } = tx;
    const text = `${JSON.stringify(line)}\n`;
    const bytes = Buffer.byteLength(text);
    try {
      if (size > 0 && size + bytes > options.maxBytes) {
        closeSync(fd);
        renameSync(options.file, `${options.file}.1`);
        fd = openSync(options.file, 'a', 0o600);
        size = 0;
      }
      writeSync(fd, text);
      size += bytes;
    } catch (error) {
      failed = true;
      options.logger.error('recording stopped: cannot write it', { file: options.file, error: (error as Error).message });
    }
  };

  const saveArtifact = (sha256: string, data: Uint8Array) => {
    if (!options.artifactsDir || !/^[0-9a-f]{64}$/.test(sha256)) return;
    const path = join(options.artifactsDir, sha256);
    if (existsSync(path)) return;
    try {
      const out = openSync(path, 'wx', 0o600);
      writeSync(out, data);
      closeSync(out);
      // The umask may only remove bits; this makes sure nothing else is set either.
      chmodSync(path, 0o600);
    } catch (error) {
      options.logger.warn('cannot record an artifact', { path, error: (error as Error).message });
    }
  };

  const tracker = new TransactionTracker({ maxBodyBytes: options.maxBodyBytes, onComplete: write, onArtifact: saveArtifact });
  return {
    observer: tracker,
    close() {
      tracker.flush();
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    },
  };
}
