import { execa } from 'execa';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/util/logger.js';

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

  it('batches stdout lines per turn, in order, and flushes them when the process exits at once', async () => {
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
});
