import { describe, expect, it } from 'vitest';
import { ABORTED, Cancellation, raceSignal } from '../../../src/util/abort.js';

describe('Cancellation', () => {
  it('fires once, with its reason or an AbortError, and tells its listeners', () => {
    const cancel = new Cancellation();
    let heard = 0;
    cancel.on('abort', () => heard++);
    expect(cancel.aborted).toBe(false);
    const reason = new Error('scan deadline reached');
    cancel.abort(reason);
    cancel.abort(new Error('later'));
    expect([cancel.aborted, cancel.reason, heard]).toEqual([true, reason, 1]);

    const plain = new Cancellation();
    plain.abort();
    expect(plain.reason).toBeInstanceOf(DOMException);
    expect((plain.reason as DOMException).name).toBe('AbortError');
  });

  it('makes its AbortSignal on first read, aborted with the same reason before or after', () => {
    const early = new Cancellation();
    const signal = early.signal;
    expect(early.signal).toBe(signal);
    let fired: unknown;
    signal.addEventListener('abort', () => (fired = signal.reason));
    early.abort(new Error('engine shutting down'));
    expect(signal.aborted).toBe(true);
    expect((fired as Error).message).toBe('engine shutting down');

    const late = new Cancellation();
    const reason = new Error('scan deadline reached');
    late.abort(reason);
    expect(late.signal.aborted).toBe(true);
    expect(late.signal.reason).toBe(reason);
  });
});

describe('raceSignal', () => {
  it('gives the work result, or ABORTED when a Cancellation or an AbortSignal fires first, and leaves no listener', async () => {
    const cancel = new Cancellation();
    expect(await raceSignal(cancel, () => 42)).toBe(42);
    expect(cancel.listenerCount('abort')).toBe(0);

    const hung = raceSignal(cancel, () => new Promise(() => {}));
    cancel.abort();
    expect(await hung).toBe(ABORTED);
    expect(cancel.listenerCount('abort')).toBe(0);
    // Already fired: ABORTED at once, even for work that would finish.
    expect(await raceSignal(cancel, () => 'would finish')).toBe(ABORTED);

    const controller = new AbortController();
    const racing = raceSignal(controller.signal, () => new Promise(() => {}));
    controller.abort();
    expect(await racing).toBe(ABORTED);
  });

  it('throws what the work throws', async () => {
    await expect(
      raceSignal(new Cancellation(), () => {
        throw new Error('scan broke');
      }),
    ).rejects.toThrow('scan broke');
  });
});
