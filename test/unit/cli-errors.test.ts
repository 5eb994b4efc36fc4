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
  it('prints the message and the flag that fixes it, exit 2 (3 for an unreachable queue), never the "this is a bug" hint', () => {
    const damaged = report(
      new EngineError('JOURNAL_DAMAGED', 'the journal /x/journal.lmdb is damaged: empty', { path: '/x/journal.lmdb' }),
    );
    expect(damaged.code).toBe(2);
    expect(damaged.text).toBe(
      'Error: the journal /x/journal.lmdb is damaged: empty\n' +
        'Hint: Move /x/journal.lmdb aside (its bounties cannot be read back) and start again, or start on a fresh folder with --state-dir.\n',
    );
    const locked = report(new EngineError('JOURNAL_LOCKED', 'another engine (pid 7) is using the journal in /x', { dir: '/x', pid: 7 }));
    expect(locked.code).toBe(2);
    expect(locked.text).toContain(
      'Hint: Stop it, or give this one its own folder with --state-dir (POLYSWARM_STATE_DIR), or pass --queue memory.',
    );
    expect(report(new EngineError('QUEUE_UNREACHABLE', 'Redis did not answer', {})).code).toBe(3);
    for (const { text } of [damaged, locked]) expect(text).not.toContain('this is a bug');
  });
});
