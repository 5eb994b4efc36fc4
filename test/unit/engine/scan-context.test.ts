import { describe, expect, it } from 'vitest';
import { LazySignalContext } from '../../../src/engine/types.js';
import { Cancellation } from '../../../src/util/abort.js';
import { createLogger } from '../../../src/util/logger.js';

describe('the ScanContext a scan gets', () => {
  const log = createLogger({ level: 'silent' });

  it('lists and spreads like a plain object: a copy keeps the signal, which fires with the scan', () => {
    const cancel = new Cancellation();
    const deadline = new Date(Date.now() + 1000);
    const ctx = new LazySignalContext(cancel, deadline, log);
    expect(Object.keys(ctx).sort()).toEqual(['deadline', 'log', 'signal']);
    const copy = { ...ctx, extra: 1 };
    expect(copy.signal).toBeInstanceOf(AbortSignal);
    expect(copy.signal).toBe(ctx.signal);
    expect(copy.deadline).toBe(deadline);
    const { signal } = ctx;
    expect(signal.aborted).toBe(false);
    cancel.abort(new Error('scan deadline reached'));
    expect(signal.aborted).toBe(true);
    expect((copy.signal.reason as Error).message).toBe('scan deadline reached');
  });

  it('a signal first read after the deadline is already aborted, with its reason', () => {
    const cancel = new Cancellation();
    const ctx = new LazySignalContext(cancel, new Date(), log);
    cancel.abort(new Error('engine shutting down'));
    expect(ctx.signal.aborted).toBe(true);
    expect((ctx.signal.reason as Error).message).toBe('engine shutting down');
  });
});
