import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { reportError } from '../../src/cli.js';
import { EngineError } from '../../src/engine/errors.js';

function report(error: unknown): { code: number; text: string } {
  const out = new PassThrough();
  const code = reportError(error, out);
  return { code, text: String(out.read() ?? '') };
}

describe('reportError: the engine library’s coded errors', () => {
  it('prints the message and exits 2 (3 for an unreachable queue), never the "this is a bug" hint', () => {
    const locked = report(new EngineError('JOURNAL_DAMAGED', 'the journal /x/journal.lmdb is damaged: empty', { path: '/x/journal.lmdb' }));
    expect(locked).toEqual({ code: 2, text: 'Error: the journal /x/journal.lmdb is damaged: empty\n' });
    expect(report(new EngineError('QUEUE_UNREACHABLE', 'Redis did not answer', {})).code).toBe(3);
  });
});
