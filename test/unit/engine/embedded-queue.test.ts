import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { EmbeddedQueue, type EmbeddedQueueOptions } from '../../../src/engine/embedded-queue.js';
import { QueueUnavailableError, type BountyJob, type JobOutcome, type JobRunner } from '../../../src/engine/queue.js';
import { SKIP } from '../../../src/protocol/answer.js';
import type { BountyData } from '../../../src/protocol/types.js';
import { createLogger } from '../../../src/util/logger.js';
import { until } from '../../helpers/loopback.js';

function job(key: string, expiresInMs = 5000): BountyJob {
  const bounty = { id: key, phase: null, expiration: new Date(Date.now() + expiresInMs) } as unknown as BountyData;
  return { key, deliveryId: null, bounty, receivedAt: Date.now() };
}

/**
 * A queue started on a runner whose `process` is `processor`; `abandon` records the job and the comment, `cut`
 * counts. What a real queue drives is the scan core (engine/scanner.ts); here the queue's own rules are under test.
 */
function started(
  processor: (job: BountyJob) => Promise<unknown>,
  options: EmbeddedQueueOptions,
): { q: EmbeddedQueue; abandoned: [string, string | undefined][]; cuts: () => number } {
  const abandoned: [string, string | undefined][] = [];
  let cuts = 0;
  const runner: JobRunner = {
    process: async (job) => ((await processor(job)) as JobOutcome | undefined) ?? 'answered',
    abandon: async (job, comment) => {
      abandoned.push([job.key, comment]);
      return 'answered';
    },
    cut: () => void cuts++,
  };
  const q = new EmbeddedQueue(options);
  q.start(runner);
  return { q, abandoned, cuts: () => cuts };
}

/** A processor whose jobs finish when the test says so. */
function controlled() {
  const started: string[] = [];
  const release = new Map<string, () => void>();
  const processor = (j: BountyJob) =>
    new Promise<void>((resolve) => {
      started.push(j.key);
      release.set(j.key, resolve);
    });
  return { started, release: (key: string) => release.get(key)!(), processor };
}

describe('EmbeddedQueue', () => {
  it('runs jobs FIFO with at most `concurrency` at a time', async () => {
    const c = controlled();
    const { q } = started(c.processor, { concurrency: 2, capacity: 10 });
    for (const k of ['a', 'b', 'c', 'd']) expect(await q.enqueue(job(k))).toBe('accepted');
    await until(() => c.started.length === 2, 'two jobs to start');
    expect(c.started).toEqual(['a', 'b']);
    expect(q.counts()).toEqual({ waiting: 2, active: 2 });
    c.release('b');
    await until(() => c.started.length === 3, 'the third job');
    expect(c.started).toEqual(['a', 'b', 'c']);
    c.release('a');
    c.release('c');
    await until(() => c.started.length === 4, 'the fourth job');
    c.release('d');
    await until(() => q.counts().active === 0, 'the queue to drain');
  });

  it('refuses with "full" past its capacity, and accepts again once there is room', async () => {
    const c = controlled();
    const { q } = started(c.processor, { concurrency: 1, capacity: 1 });
    expect(await q.enqueue(job('a'))).toBe('accepted');
    await until(() => c.started.length === 1, 'a to start');
    expect(await q.enqueue(job('b'))).toBe('accepted');
    expect(await q.enqueue(job('c'))).toBe('full');
    c.release('a');
    await until(() => c.started.length === 2, 'b to start');
    expect(await q.enqueue(job('c'))).toBe('accepted');
    c.release('b');
    await until(() => c.started.length === 3, 'c to start');
    c.release('c');
  });

  it('deduplicates a key until the bounty expires, then accepts it again', async () => {
    const { q } = started(async () => {}, { concurrency: 1, capacity: 10 });
    expect(await q.enqueue(job('k', 150))).toBe('accepted');
    expect(await q.enqueue(job('k', 150))).toBe('duplicate');
    const first = Date.now();
    await until(async () => (await q.enqueue(job('k', 150))) === 'accepted', 'the key to be accepted again once the bounty expired', 2000);
    expect(Date.now() - first).toBeGreaterThanOrEqual(100);
  });

  it('remembers at most maxKeys keys, forgetting the oldest', async () => {
    const { q } = started(async () => {}, { concurrency: 4, capacity: 100, maxKeys: 3 });
    for (const k of ['a', 'b', 'c', 'd']) expect(await q.enqueue(job(k))).toBe('accepted');
    expect(await q.enqueue(job('d'))).toBe('duplicate');
    expect(await q.enqueue(job('a'))).toBe('accepted');
  });

  it('close() in memory: answers waiting jobs SKIPPED:SHUTDOWN, waits for running ones at most graceMs, cuts them, then refuses new jobs', async () => {
    const c = controlled();
    const { q, abandoned, cuts } = started(c.processor, { concurrency: 1, capacity: 10 });
    for (const k of ['a', 'b', 'c']) await q.enqueue(job(k));
    await until(() => c.started.length === 1, 'a to start');
    const closing = Date.now();
    await q.close({ graceMs: 150 });
    expect(Date.now() - closing).toBeGreaterThanOrEqual(140);
    expect(abandoned).toEqual([
      ['b', undefined],
      ['c', undefined],
    ]);
    expect(cuts()).toBe(1);
    expect(q.cutJobs).toBe('answer');
    expect(c.started).toEqual(['a']);
    await expect(q.enqueue(job('d'))).rejects.toBeInstanceOf(QueueUnavailableError);
    expect(await q.health()).toEqual({ ok: false, detail: 'the queue is shutting down' });
    c.release('a');
  });

  it('close() returns as soon as the running jobs finish', async () => {
    const c = controlled();
    const { q } = started(c.processor, { concurrency: 1, capacity: 10 });
    await q.enqueue(job('a'));
    await until(() => c.started.length === 1, 'a to start');
    setTimeout(() => c.release('a'), 50);
    const closing = Date.now();
    await q.close({ graceMs: 5000 });
    expect(Date.now() - closing).toBeLessThan(1000);
  });

  it('survives a runner that rejects, and logs it with the bounty', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const { q } = started(
      async () => {
        throw new Error('bad');
      },
      { concurrency: 1, capacity: 10, logger: createLogger({ stream, format: 'json', level: 'info' }) },
    );
    await q.enqueue(job('a'));
    await q.enqueue(job('b'));
    await until(() => lines.length === 2, 'both jobs to fail');
    expect(lines.map((l) => JSON.parse(l))).toMatchObject([
      { msg: 'job failed', bounty: 'a', error: 'bad' },
      { msg: 'job failed', bounty: 'b', error: 'bad' },
    ]);
    expect(await q.enqueue(job('c'))).toBe('accepted');
  });

  it('schedules the earliest deadline first, arrival order among equals', async () => {
    const c = controlled();
    const { q } = started(c.processor, { concurrency: 1, capacity: 10 });
    await q.enqueue(job('blocker', 60_000));
    await until(() => c.started.length === 1, 'the blocker to start');
    await q.enqueue(job('late', 50_000));
    await q.enqueue(job('soon', 10_000));
    await q.enqueue(job('sooner', 5_000));
    const same = job('same-a', 20_000);
    await q.enqueue(same);
    await q.enqueue({ ...job('same-b'), bounty: { ...same.bounty, id: 'same-b' } });
    for (const k of ['blocker', 'sooner', 'soon', 'same-a', 'same-b']) {
      c.release(k);
      await until(() => c.started.length > ['blocker', 'sooner', 'soon', 'same-a', 'same-b'].indexOf(k) + 1, `the job after ${k}`);
    }
    expect(c.started).toEqual(['blocker', 'sooner', 'soon', 'same-a', 'same-b', 'late']);
  });

  it('the watchdog answers a job still waiting at its scan deadline, without a scan slot (fake clock)', async () => {
    vi.useFakeTimers();
    try {
      const c = controlled();
      const { q, abandoned: overdue } = started(c.processor, { concurrency: 1, capacity: 10, deadlineMarginMs: 1000 });
      await q.enqueue(job('stuck', 60_000));
      await vi.advanceTimersByTimeAsync(0);
      expect(c.started).toEqual(['stuck']);
      await q.enqueue(job('short', 31_000)); // scan deadline 30 s from now, behind a scan that never ends
      await q.enqueue(job('long', 60_000));
      await vi.advanceTimersByTimeAsync(29_999);
      expect(overdue).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(overdue).toEqual([['short', SKIP.TIMEOUT]]);
      expect(c.started).toEqual(['stuck']);
      expect(q.counts()).toEqual({ waiting: 1, active: 1 });
      // Deadlines past setTimeout's 24.8-day limit are kept, not fired at once.
      await q.enqueue(job('far', 40 * 24 * 3600 * 1000));
      await vi.advanceTimersByTimeAsync(25 * 24 * 3600 * 1000);
      expect(overdue.map(([key]) => key)).toEqual(['short', 'long']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses by bytes as well as by count, and frees the bytes when a job ends', async () => {
    const c = controlled();
    const { q } = started(c.processor, { concurrency: 1, capacity: 100, maxBytes: 3000 });
    const sized = (key: string, bytes: number) => ({ ...job(key), bytes });
    expect(await q.enqueue(sized('a', 1000))).toBe('accepted');
    expect(await q.enqueue(sized('b', 1500))).toBe('accepted');
    expect(await q.enqueue(sized('c', 1000))).toBe('full');
    expect(q.bytes()).toBe(2500);
    await until(() => c.started.length === 1, 'a to start');
    c.release('a');
    await until(() => q.bytes() === 1500, 'a’s bytes to be freed');
    expect(await q.enqueue(sized('c', 1000))).toBe('accepted');
  });

  it('a journal that cannot be written (disk full): the bounty is refused and GET / says so until a write succeeds', async () => {
    let full = true;
    const journal = {
      path: '/state/journal.lmdb',
      checkMs: 0,
      add: async () => {
        if (full) throw new Error('MDB_MAP_FULL: Environment mapsize limit reached');
      },
      settle: async () => {},
      recover: async () => ({ pending: [], answered: [], dropped: [], damaged: [] }),
      close: async () => {},
    };
    const { q } = started(async () => {}, { concurrency: 1, capacity: 10, journal });
    expect(await q.health()).toEqual({ ok: true });
    await expect(q.enqueue(job('a'))).rejects.toThrow('cannot write the journal: MDB_MAP_FULL');
    expect(await q.health()).toEqual({ ok: false, detail: 'the journal cannot be written (is the disk full?)' });
    full = false;
    expect(await q.enqueue(job('a'))).toBe('accepted');
    expect(await q.health()).toEqual({ ok: true });
  });

  it('rejects nonsense options', () => {
    expect(() => new EmbeddedQueue({ concurrency: 0, capacity: 1 })).toThrow(/concurrency/);
    expect(() => new EmbeddedQueue({ concurrency: 1, capacity: -1 })).toThrow(/capacity/);
  });
});
