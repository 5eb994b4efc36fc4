import type { Readable } from 'node:stream';

/**
 * A stream read to its end, as one Buffer: the webhook's request body (node-handler.ts) and an artifact's body
 * (download.ts). Listens for data/end/error/close rather than iterating with `for await`, whose machinery cost about
 * as much as the reading. Rejects with `tooLarge(total)` once more than `max` bytes came, with the stream's own error,
 * or with `closed()` when it closed (or was destroyed before this was called) without its end. On a rejection the
 * listeners are gone and the stream is left as it is: the caller decides whether to destroy or drain it.
 */
export function readToEnd(
  source: Readable,
  max: number,
  errors: { tooLarge: (total: number) => Error; closed: () => Error },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Destroyed before we listened (its 'error' and 'close' already emitted): nothing more will come.
    if (source.destroyed) return reject(source.errored ?? errors.closed());
    const chunks: Buffer[] = [];
    let total = 0;
    const settle = (error: unknown, data?: Buffer) => {
      source.off('data', onData).off('end', onEnd).off('error', settle).off('close', onClose);
      if (error === undefined) resolve(data!);
      else reject(error);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= max) chunks.push(chunk);
      else settle(errors.tooLarge(total));
    };
    const onEnd = () => settle(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    const onClose = () => settle(errors.closed());
    source.on('data', onData).on('end', onEnd).on('error', settle).on('close', onClose);
  });
}
