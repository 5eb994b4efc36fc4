import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readAll } from '../../../src/engine/download.js';
import { ArtifactError } from '../../../src/engine/types.js';

/** A stream that gives `chunks` one per read, then ends. */
const from = (...chunks: string[]) =>
  Readable.from(
    chunks.map((c) => Buffer.from(c)),
    { objectMode: false },
  );

describe('readAll (an artifact body to one Buffer)', () => {
  it('joins the chunks of a stream that ends', async () => {
    expect((await readAll(from('ab', 'cd', 'e'), 5)).toString()).toBe('abcde');
  });

  it('past the cap: too-large at the byte that passed it, the stream destroyed, a late error swallowed', async () => {
    const source = from('abc', 'def', 'ghi');
    const error = await readAll(source, 5).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArtifactError);
    expect((error as ArtifactError).reason).toBe('too-large');
    expect((error as Error).message).toBe('artifact is over the 5-byte limit (stopped reading at 6 bytes)');
    expect(source.destroyed).toBe(true);
    // An error after the refusal (undici's "Request aborted") must not reach the process unhandled.
    source.emit('error', new Error('Request aborted'));
  });

  it('an error while reading rejects with it; a close before the end is a premature close', async () => {
    const failing = new Readable({ read() {} });
    const failed = readAll(failing, 100);
    failing.push('ab');
    failing.destroy(new Error('socket hang up'));
    await expect(failed).rejects.toThrow('socket hang up');
    const cut = new Readable({ read() {} });
    const closed = readAll(cut, 100);
    cut.push('ab');
    cut.destroy();
    await expect(closed).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('a stream destroyed before it is read rejects at once, with its error or as a premature close (no hang)', async () => {
    const errored = new Readable({ read() {} });
    errored.on('error', () => {});
    errored.destroy(new Error('reset before the body was read'));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(readAll(errored, 100)).rejects.toThrow('reset before the body was read');
    const closed = new Readable({ read() {} });
    closed.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    await expect(readAll(closed, 100)).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });
});
