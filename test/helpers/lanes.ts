/**
 * Starts slow, independent runs (a `test all` against one engine each) at once, at most `atOnce` at a time in the
 * order given, so several tests can each read their own run's result: a run mostly waits (on expirations, a hang case,
 * a settle time), so two or three side by side take about as long as one. Call it in a beforeAll; each test awaits
 * only its own run, so a failed run fails only the tests that read it.
 */
export function inLanes<K extends string, T>(atOnce: number, tasks: Record<K, () => Promise<T>>): Record<K, Promise<T>> {
  const lanes: Promise<unknown>[] = Array.from({ length: atOnce }, () => Promise.resolve());
  const runs = {} as Record<K, Promise<T>>;
  (Object.entries(tasks) as [K, () => Promise<T>][]).forEach(([name, task], i) => {
    const run = lanes[i % atOnce]!.then(task);
    // The lane's next run starts when this one ends, pass or fail; a run no test has awaited yet must not be an
    // unhandled rejection.
    lanes[i % atOnce] = run.catch(() => undefined);
    runs[name] = run;
  });
  return runs;
}
