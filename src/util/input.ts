import { readFile } from 'node:fs/promises';
import { UsageError } from './errors.js';

export interface Input {
  bytes: Buffer;
  /** How to name it in messages: the path, or `stdin`. */
  name: string;
}

/**
 * Reads a file, or standard input for `-`, as raw bytes (never re-encoded: a signature is over exact bytes).
 * Missing files, folders and an interactive stdin are UsageErrors (exit 2) with a hint.
 */
export async function readInput(file: string | undefined, stdin: NodeJS.ReadStream = process.stdin): Promise<Input> {
  if (file === undefined || file === '-') {
    if (stdin.isTTY) {
      throw new UsageError('expected the document on standard input, but it is a terminal', {
        hint: 'Give a file name, or pipe the bytes in: cat body.json | polyswarm-engine …',
      });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
    return { bytes: Buffer.concat(chunks), name: 'stdin' };
  }
  return { bytes: await readBytes(file), name: file };
}

/** A file's bytes; a UsageError (exit 2) saying what is wrong with it, its message starting with `name`. */
export async function readBytes(file: string, name = file): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${name}: no such file`);
    if (code === 'EISDIR') throw new UsageError(`${name}: is a folder, not a file`);
    if (code === 'EACCES') throw new UsageError(`${name}: permission denied`);
    throw new UsageError(`${name}: cannot read it (${(error as Error).message})`);
  }
}
