import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { duration, flag, integer, text } from '../../../src/commands/define.js';
import { describeSource, layersFor, resolveOptions } from '../../../src/runtime/config.js';
import { UsageError } from '../../../src/util/errors.js';

const specs = {
  port: integer('-p, --port <port>', 'port', { min: 0, max: 65_535, env: 'PORT', defaultValue: 3000 }),
  secret: text('--secret <secret>', 'secret', { env: ['WEBHOOK_SECRET', 'PSENGINE_WEBHOOK_SECRET'] }),
  grace: duration('--grace <duration>', 'grace', { env: 'GRACE', defaultValue: 25_000, min: 1000 }),
  json: flag('--json', 'json', { env: 'JSON_OUT' }),
};

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function project(dotenv: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pse-config-'));
  dirs.push(dir);
  writeFileSync(join(dir, '.env'), dotenv);
  return dir;
}

describe('resolveOptions: flag > environment > .env > default', () => {
  it('takes each value from the first layer that has it, and says where', () => {
    const dir = project('PORT=4000\nPSENGINE_WEBHOOK_SECRET=from-dotenv\nGRACE=2s\n');
    const { values, sources, variables } = resolveOptions(specs, layersFor(dir, { grace: 5000 }, { PORT: '5000' }));
    expect(values).toEqual({ port: 5000, secret: 'from-dotenv', grace: 5000, json: false });
    expect(sources).toEqual({ port: 'env', secret: 'dotenv', grace: 'flag', json: 'default' });
    expect(variables).toEqual({ port: 'PORT', secret: 'PSENGINE_WEBHOOK_SECRET' });
    expect(describeSource(specs.secret, 'dotenv', 'PSENGINE_WEBHOOK_SECRET', join(dir, '.env'))).toBe(
      `PSENGINE_WEBHOOK_SECRET in ${dir}/.env`,
    );
    expect(describeSource(specs.port, 'env', 'PORT', '')).toBe('$PORT');
    expect(describeSource(specs.grace, 'flag', undefined, '')).toBe('--grace');
  });

  it('any environment variable of a setting beats every .env entry; the first listed wins within a layer', () => {
    const dir = project('WEBHOOK_SECRET=dotenv-first\n');
    const r = resolveOptions(specs, layersFor(dir, {}, { PSENGINE_WEBHOOK_SECRET: 'env-second' }));
    expect(r.values.secret).toBe('env-second');
    const both = resolveOptions(specs, layersFor(dir, {}, { WEBHOOK_SECRET: 'a', PSENGINE_WEBHOOK_SECRET: 'b' }));
    expect(both.values.secret).toBe('a');
  });

  it('an empty variable counts as unset; a missing .env or folder is no .env', () => {
    const dir = project('PORT=\n');
    expect(resolveOptions(specs, layersFor(dir, {}, { PORT: '' })).values.port).toBe(3000);
    expect(resolveOptions(specs, layersFor(join(dir, 'nowhere'), {}, {})).values.port).toBe(3000);
    expect(resolveOptions(specs, layersFor(join(dir, '.env'), {}, {})).values.port).toBe(3000);
  });

  it('parses switches from the environment and rejects what is not one', () => {
    const dir = project('');
    expect(resolveOptions(specs, layersFor(dir, {}, { JSON_OUT: 'yes' })).values.json).toBe(true);
    expect(resolveOptions(specs, layersFor(dir, {}, { JSON_OUT: '0' })).values.json).toBe(false);
    expect(() => resolveOptions(specs, layersFor(dir, {}, { JSON_OUT: 'maybe' }))).toThrow(
      '$JSON_OUT (for --json): "maybe" must be true or false',
    );
  });

  it('a value that does not parse is a UsageError naming the variable, the file and the flag', () => {
    const dir = project('GRACE=10ms\n');
    let error: unknown;
    try {
      resolveOptions(specs, layersFor(dir, {}, {}));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(`GRACE in ${dir}/.env (for --grace): "10ms" must be at least 1s`);
    expect((error as UsageError).hint).toBe('Fix or unset GRACE, or pass --grace.');
    expect(() => resolveOptions(specs, layersFor(dir, {}, { PORT: '70000' }))).toThrow(
      '$PORT (for --port): "70000" must be between 0 and 65535',
    );
  });
});
