import { execa } from 'execa';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLogger, levelEnabled } from '../../../src/util/logger.js';

const LOGGER = fileURLToPath(new URL('../../../dist/util/logger.js', import.meta.url));

describe('logger', () => {
  it('writes text lines with fields, and JSON lines with bigints as digits', () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    createLogger({ stream: out, format: 'text' }).info('answer', { bounty: 'a b', bid: 2n ** 64n });
    createLogger({ stream: out, format: 'json' }).warn('x', { bid: 10n ** 30n });
    const [text, json] = chunks.join('').trimEnd().split('\n');
    expect(text).toMatch(/INFO {2}answer bounty="a b" bid=18446744073709551616$/);
    expect(JSON.parse(json)).toMatchObject({ level: 'warn', msg: 'x', bid: '1000000000000000000000000000000' });
  });

  it('stamps JSON lines with the ISO time, and text lines with its time of day, to the millisecond', () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const before = Date.now();
    for (let i = 0; i < 50; i++) createLogger({ stream: out, format: 'json' }).info('x');
    createLogger({ stream: out, format: 'text', timestamps: true }).info('y');
    const after = Date.now();
    const lines = chunks.join('').trimEnd().split('\n');
    for (const line of lines.slice(0, 50)) {
      const { time } = JSON.parse(line) as { time: string };
      expect(new Date(time).toISOString()).toBe(time);
      expect(Date.parse(time)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(time)).toBeLessThanOrEqual(after);
    }
    const day = new Date(before).toISOString().slice(0, 11);
    const clock = /^(\d\d:\d\d:\d\d\.\d{3}) INFO {2}y$/.exec(lines[50]!)?.[1];
    expect(Date.parse(`${day}${clock}Z`)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(`${day}${clock}Z`)).toBeLessThanOrEqual(after);
  });

  it("a logger's methods work detached and on a spread copy, at the child's level and with its fields", () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const child = createLogger({ stream: out, level: 'warn' }).child({ bounty: 'b1' });
    const { warn, info, child: grandchildOf } = child;
    warn('detached', { n: 1 });
    info('below the level');
    ({ ...child }).error('spread');
    grandchildOf({ phase: 'p' }).warn('grandchild');
    expect(child.level).toBe('warn');
    expect({ ...child }.level).toBe('warn');
    expect(chunks.join('').trimEnd().split('\n')).toEqual([
      'WARN  detached bounty=b1 n=1',
      'ERROR spread bounty=b1',
      'WARN  grandchild bounty=b1 phase=p',
    ]);
  });

  it('child fields come first, call fields override them, undefined is left out; JSON keeps its own keys', () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const text = createLogger({ stream: out, format: 'text' }).child({ bounty: 1, phase: 'a' });
    text.info('m', { phase: 'b', skip: undefined, ok: true, none: null, n: 1.5, obj: { a: [1] }, err: new Error('boom') });
    const json = createLogger({ stream: out, format: 'json' }).child({ bounty: 'x' });
    json.error('m', { level: 'spoofed', msg: 'spoofed', n: Number.NaN, big: 2n, obj: { b: 1n }, s: 'q"' });
    const [t, j] = chunks.join('').trimEnd().split('\n');
    expect(t).toBe('INFO  m bounty=1 phase=b ok=true none=null n=1.5 obj={"a":[1]} err="boom"');
    const parsed = JSON.parse(j);
    expect(parsed).toMatchObject({ level: 'error', msg: 'm', bounty: 'x', n: null, big: '2', obj: { b: '1' }, s: 'q"' });
    expect(Object.keys(parsed)).toEqual(['level', 'time', 'msg', 'bounty', 'n', 'big', 'obj', 's']);
  });

  it('escapes control and bidi characters in text and JSON lines, and redacts URL query strings everywhere', () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const hostile = 'id\u001b[2J\u202e\u0085\u2028x';
    const url = 'https://bucket.s3.amazonaws.com/a.bin?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA#frag';
    for (const format of ['text', 'json'] as const) {
      const logger = createLogger({ stream: out, format }).child({ bounty: hostile });
      logger.warn(`failed ${url}`, { error: `download from ${url} answered HTTP 403`, plain: 'noquote', obj: { uri: url }, [hostile]: 1 });
    }
    const [text, json] = chunks.join('').trimEnd().split('\n');
    for (const line of [text!, json!]) {
      expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u202e]/);
      expect(line).not.toContain('deadbeef');
      expect(line).not.toContain('AKIA');
      expect(line).toContain('https://bucket.s3.amazonaws.com/a.bin?…');
    }
    expect(text).toContain('bounty="id\\u001b[2J\\u202e\\u0085\\u2028x"');
    expect(text).toContain('WARN  failed https://bucket.s3.amazonaws.com/a.bin?…#frag');
    expect(text).toContain('plain=noquote');
    // Still one valid JSON object, the hostile text intact once parsed (only the query is gone).
    const parsed = JSON.parse(json!);
    expect(parsed.bounty).toBe(hostile);
    expect(parsed.obj).toEqual({ uri: 'https://bucket.s3.amazonaws.com/a.bin?…#frag' });
  });

  it('levelEnabled says which levels a logger writes', () => {
    expect(levelEnabled(createLogger({ level: 'info' }), 'info')).toBe(true);
    expect(levelEnabled(createLogger({ level: 'info' }), 'debug')).toBe(false);
    expect(levelEnabled(createLogger({ level: 'warn' }), 'info')).toBe(false);
    expect(levelEnabled(createLogger({ level: 'silent' }), 'error')).toBe(false);
    expect(levelEnabled(createLogger({ level: 'debug' }), 'debug')).toBe(true);
  });

  it('drops lines below the level', () => {
    const out = new PassThrough();
    let written = '';
    out.on('data', (c: Buffer) => (written += c.toString()));
    const log = createLogger({ stream: out, level: 'warn' });
    log.info('hidden');
    log.error('shown');
    expect(written).not.toContain('hidden');
    expect(written).toContain('shown');
  });

  it('batches stdout lines, in order, and flushes them when the process exits at once', async () => {
    // process.exit right after logging: the exit hook must still write every line, in order (built logger).
    const script = `
      const { createLogger } = await import(${JSON.stringify(LOGGER)});
      const log = createLogger({ stream: process.stdout, format: 'json' });
      for (let i = 0; i < 1000; i++) log.info('line', { i });
      process.exit(0);
    `;
    const r = await execa('node', ['--input-type=module', '-e', script], { env: { NO_COLOR: '1' } });
    const lines = r.stdout.split('\n').map((l) => JSON.parse(l) as { i: number });
    expect(lines.map((l) => l.i)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  /** Runs `body` in a node process with `log` (the built logger, JSON lines to stdout) and `writes`, its stdout writes so far. */
  const countingWrites = (body: string) =>
    execa(
      'node',
      [
        '--input-type=module',
        '-e',
        `
      const { createLogger } = await import(${JSON.stringify(LOGGER)});
      let writes = 0;
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = (...args) => (writes++, write(...args));
      const log = createLogger({ stream: process.stdout, format: 'json' });
      ${body}
    `,
      ],
      { env: { NO_COLOR: '1' } },
    );

  it('lines from different turns share one write, made within the window while the process keeps running', async () => {
    // Two lines a few ms apart (two event-loop turns): one write, by the window's timer, long before the exit.
    const r = await countingWrites(`
      log.info('first');
      setTimeout(() => log.info('second'), 2);
      setTimeout(() => process.stderr.write('writes=' + writes), 500);
    `);
    expect(r.stderr).toBe('writes=1');
    expect(r.stdout.split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['first', 'second']);
  });

  it('64 Ki characters waiting are written at once, without waiting for the window', async () => {
    // 1,000 lines of about 100 characters in one turn: the first 64 Ki go out as they fill, before the turn ends.
    const r = await countingWrites(`
      for (let i = 0; i < 1000; i++) log.info('line', { i, pad: 'x'.repeat(40) });
      process.stderr.write('writes=' + writes);
    `);
    expect(r.stderr).toBe('writes=1');
    expect(r.stdout.split('\n').map((l) => (JSON.parse(l) as { i: number }).i)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('lines still waiting for their write are written when the process dies of an uncaught error', async () => {
    // The crash comes in the same turn as the lines, before the batch's flush: the exit hook writes them.
    const script = `
      const { createLogger } = await import(${JSON.stringify(LOGGER)});
      const log = createLogger({ stream: process.stderr, format: 'json' });
      setTimeout(() => {
        for (let i = 0; i < 3; i++) log.info('line', { i });
        throw new Error('crash');
      }, 1);
    `;
    const r = await execa('node', ['--input-type=module', '-e', script], { env: { NO_COLOR: '1' }, reject: false });
    expect(r.exitCode).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('{"level"'));
    expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([0, 1, 2]);
    expect(r.stderr).toContain('Error: crash');
  });
});
