import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest (measured; see the bench of issue 25), started first so the two workers do not end on
 * a long tail: an installer, a packer or a conformance run left for last would add its whole length to the wall time.
 * Listed by path, not left to vitest's duration cache, because a fresh clone (and CI) has no cache.
 */
const SLOW_FIRST = [
  'test/e2e/init-templates.test.ts',
  'test/e2e/package.test.ts',
  'test/integration/simulator/test-engine.test.ts',
  'test/e2e/redis-processes.test.ts',
  'test/e2e/redis-queue.test.ts',
  'test/e2e/redis-promise.test.ts',
];

/** vitest's own order (failed, then longest by the cache, then largest), with the known-slow files ahead of it. */
class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const at = SLOW_FIRST.findIndex((path) => spec.moduleId.endsWith(`/${path}`));
      return at === -1 ? SLOW_FIRST.length : at;
    };
    // Array.prototype.sort is stable: the rest keep vitest's order.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}

/**
 * Three projects, so a change can be checked at the speed its tests allow: `npx vitest --config test/vitest.config.ts
 * --project unit` answers in seconds (no sockets, no processes); `integration` runs the library over loopback;
 * `e2e` runs the built bin (`npm run build` first). `npm test` runs all three in one pool.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    // redis-server, clamd, clamscan and chromium: without one, stop before any test with the apt line that fixes it.
    globalSetup: ['test/helpers/system-deps.mjs'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real servers and child processes: keep parallelism modest on 2-core machines.
    pool: 'forks',
    maxWorkers: 2,
    sequence: { sequencer: SlowFirstSequencer },
    // unit and integration files run in the library's process and clean up after themselves, so a worker carries on
    // to its next file without a new fork and a fresh import of src/ (measured: half the CPU of those two projects,
    // 72 s to 38 s). e2e files keep a process each: they spawn children and register process-wide cleanups.
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], isolate: false } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'], isolate: false } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
    ],
  },
});
