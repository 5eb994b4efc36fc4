/**
 * The error tally of the Redis loops (src/engine/redis/error-tally.ts): one line per change with a count, again once
 * a minute while it goes on, one line when it stops; the retry delay grows with failures in a row and is capped.
 */
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorTally, MAX_BACKOFF_MS, REPEAT_LOG_MS } from '../../../../src/engine/redis/error-tally.js';
import { createLogger } from '../../../../src/util/logger.js';

function capture() {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  return { logger: createLogger({ level: 'info', format: 'json', stream }), lines };
}

const OOM = new Error(
  "OOM command not allowed when used memory > 'maxmemory'. script: d96ca626f1ea141b44a856b312fc636d99aa9ea9, on @user_script:217.",
);

afterEach(() => {
  vi.useRealTimers();
});

describe('ErrorTally', () => {
  it('10,000 identical failures in a second are one line; the next minute adds one with the count; recovery one more', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-07T12:00:01Z'));
    const { logger, lines } = capture();
    const tally = new ErrorTally(logger, 'worker: a Redis command failed', { queue: 'q' });
    for (let i = 0; i < 10_000; i++) tally.failed(OOM);
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    const first = JSON.parse(lines[0]!) as { level: string; msg: string; queue: string };
    // The script's SHA and line are not part of the cause: one cause, one message, whichever script hit it.
    expect(first).toMatchObject({ level: 'error', queue: 'q' });
    expect(first.msg).toBe("worker: a Redis command failed: OOM command not allowed when used memory > 'maxmemory' (×1 since 12:00:01)");
    vi.setSystemTime(Date.now() + REPEAT_LOG_MS);
    tally.failed(OOM);
    tally.succeeded();
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(3);
    expect((JSON.parse(lines[1]!) as { msg: string }).msg).toContain('(×10,001 since 12:00:01)');
    expect((JSON.parse(lines[2]!) as { msg: string; level: string }).msg).toBe(
      'worker: a Redis command failed: working again after 10,001 failed attempts since 12:00:01',
    );
    tally.succeeded();
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(3);
  });

  it('a different error is a change: logged at once, its count from 1', async () => {
    const { logger, lines } = capture();
    const tally = new ErrorTally(logger, 'deadline watchdog');
    tally.failed(OOM);
    tally.failed(OOM);
    tally.failed(new Error('Command timed out'));
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(2);
    expect((JSON.parse(lines[1]!) as { msg: string }).msg).toMatch(/^deadline watchdog: Command timed out \(×1 since \d\d:\d\d:\d\d\)$/);
  });

  it('the retry delay doubles with each failure in a row, up to the cap, and is back to the base after a success', () => {
    const tally = new ErrorTally(createLogger({ level: 'silent' }), 'loop');
    expect(tally.backoffMs(250)).toBe(250);
    tally.failed(OOM);
    expect(tally.backoffMs(250)).toBe(500);
    tally.failed(OOM);
    expect(tally.backoffMs(250)).toBe(1000);
    for (let i = 0; i < 50; i++) tally.failed(OOM);
    expect(tally.backoffMs(250)).toBe(MAX_BACKOFF_MS);
    tally.succeeded();
    expect(tally.backoffMs(250)).toBe(250);
  });
});
