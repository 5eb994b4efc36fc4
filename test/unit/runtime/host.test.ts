import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { hostProcess, STOP_SLACK_MS, type HostedService } from '../../../src/runtime/host.js';
import { createLogger } from '../../../src/util/logger.js';

/** Stands in for `process` as the source of signals and uncaught errors: the host listens, the test emits. */
function fakeProcess(): NodeJS.Process & EventEmitter {
  return new EventEmitter() as unknown as NodeJS.Process & EventEmitter;
}

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, logger: createLogger({ stream, format: 'json', level: 'debug' }) };
}

function service(overrides: Partial<HostedService> = {}): HostedService & { aborted: number } {
  const s = {
    aborted: 0,
    ready: async () => {},
    readyFields: () => ({ url: 'http://127.0.0.1:1/' }),
    stop: async () => {},
    abort() {
      s.aborted++;
    },
    ...overrides,
  };
  return s;
}

/** One turn of the event loop: the host's promise chains (all in this process) have run by then. */
const tick = () => new Promise((r) => setImmediate(r));

describe('hostProcess', () => {
  it('prints ready, stops gracefully on SIGTERM and exits 0; listeners are removed', async () => {
    const proc = fakeProcess();
    const { lines, logger } = capture();
    let stoppedWith: number | undefined;
    const run = hostProcess(async () => service({ stop: async (grace) => void (stoppedWith = grace) }), {
      logger,
      readyLog: logger,
      graceMs: 1234,
      interactive: false,
      signals: proc,
    });
    await tick();
    expect(lines.map((l) => JSON.parse(l).msg)).toContain('ready');
    proc.emit('SIGTERM', 'SIGTERM');
    expect(await run).toBe(0);
    expect(stoppedWith).toBe(1234);
    expect(proc.listenerCount('SIGTERM') + proc.listenerCount('SIGINT') + proc.listenerCount('uncaughtException')).toBe(0);
  });

  it('a stop that fails is exit 1, never 0, and the log says why', async () => {
    const proc = fakeProcess();
    const { lines, logger } = capture();
    const run = hostProcess(async () => service({ stop: async () => Promise.reject(new Error('redis gone')) }), {
      logger,
      readyLog: logger,
      graceMs: 100,
      interactive: false,
      signals: proc,
    });
    await tick();
    proc.emit('SIGTERM', 'SIGTERM');
    expect(await run).toBe(1);
    expect(lines.map((l) => JSON.parse(l))).toContainEqual(
      expect.objectContaining({ level: 'error', msg: 'shutdown failed', error: 'redis gone' }),
    );
  });

  it('a second signal stops at once: exit 130 and the service is aborted', async () => {
    const proc = fakeProcess();
    const { logger } = capture();
    const s = service({ stop: () => new Promise(() => {}) });
    const run = hostProcess(async () => s, { logger, readyLog: logger, graceMs: 60_000, interactive: true, signals: proc });
    await tick();
    proc.emit('SIGINT', 'SIGINT');
    await tick();
    proc.emit('SIGINT', 'SIGINT');
    expect(await run).toBe(130);
    expect(s.aborted).toBe(1);
  });

  it('a stop that outlives the grace period (plus slack) is cut: exit 1, aborted (fake clock)', async () => {
    vi.useFakeTimers();
    try {
      const proc = fakeProcess();
      const { lines, logger } = capture();
      const s = service({ stop: () => new Promise(() => {}) });
      let code: number | undefined;
      const run = hostProcess(async () => s, { logger, readyLog: logger, graceMs: 20_000, interactive: false, signals: proc }).then(
        (c) => (code = c),
      );
      await vi.advanceTimersByTimeAsync(0);
      proc.emit('SIGTERM', 'SIGTERM');
      // One tick short of the grace plus the slack: still waiting for the stop.
      await vi.advanceTimersByTimeAsync(20_000 + STOP_SLACK_MS - 1);
      expect(code).toBeUndefined();
      expect(s.aborted).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      await run;
      expect(code).toBe(1);
      expect(s.aborted).toBe(1);
      expect(lines.some((l) => l.includes('shutdown did not finish within the grace period'))).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('an uncaught error is logged with where it was thrown; the process keeps running', async () => {
    const proc = fakeProcess();
    const { lines, logger } = capture();
    const run = hostProcess(async () => service(), { logger, readyLog: logger, graceMs: 100, interactive: false, signals: proc });
    await tick();
    proc.emit('uncaughtException', new Error('late boom'));
    proc.emit('unhandledRejection', 'a string');
    const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'error');
    expect(logged[0]).toMatchObject({ msg: 'uncaught error in scan code; the process keeps running', error: 'late boom' });
    expect(logged[0].at).toMatch(/host\.test\.ts:\d+:\d+/);
    expect(logged[1]).toMatchObject({ error: 'a string' });
    proc.emit('SIGTERM', 'SIGTERM');
    expect(await run).toBe(0);
  });

  it('a signal before the service is ready skips the ready line and still stops cleanly', async () => {
    const proc = fakeProcess();
    const { lines, logger } = capture();
    let release: () => void = () => {};
    const run = hostProcess(async () => service({ ready: () => new Promise<void>((r) => (release = r)) }), {
      logger,
      readyLog: logger,
      graceMs: 100,
      interactive: false,
      signals: proc,
    });
    await tick();
    proc.emit('SIGTERM', 'SIGTERM');
    expect(await run).toBe(0);
    release();
    expect(lines.map((l) => JSON.parse(l).msg)).not.toContain('ready');
  });
});
