/**
 * Preloaded into an engine child by the bench (`node --expose-gc --import bench/gc-hook.mjs bin/… start`) so that
 * memory figures are read after a full GC, not whenever V8 happens to collect. On `{ type: 'gc' }` over the IPC
 * channel it collects twice (the second pass frees what the first one's finalisers released) and answers with
 * process.memoryUsage(). The channel is unref'd, so it never keeps the engine alive after SIGTERM.
 */
if (typeof process.send === 'function') {
  process.on('message', (message) => {
    if (message?.type !== 'gc') return;
    globalThis.gc?.();
    globalThis.gc?.();
    process.send({ type: 'memory', usage: process.memoryUsage(), gc: typeof globalThis.gc === 'function' });
  });
  process.channel?.unref();
}
