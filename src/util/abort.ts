/** Work raced against an AbortSignal, for code that may ignore the signal it was given (an author's `scan`). */

export const ABORTED = Symbol('aborted');

/** Resolves ABORTED when the signal fires; the work raced against it is not awaited after that (it may ignore its signal). */
export function whenAborted(signal: AbortSignal): { promise: Promise<typeof ABORTED>; dispose(): void } {
  let dispose = () => {};
  const promise = new Promise<typeof ABORTED>((resolve) => {
    if (signal.aborted) return resolve(ABORTED);
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    dispose = () => signal.removeEventListener('abort', onAbort);
  });
  return { promise, dispose: () => dispose() };
}
