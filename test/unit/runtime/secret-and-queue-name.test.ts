/**
 * Where the webhook secret comes from when both a secret and a secret file are configured, what a secret file may
 * hold, and the Redis queue's name for an engine project.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { queueNameFor, queueNameProblem } from '../../../src/engine/redis/options.js';
import type { ValueSource } from '../../../src/runtime/options.js';
import { sharedQueueName } from '../../../src/runtime/queue-name.js';
import { resolveSecret as resolveEngineSecret } from '../../../src/runtime/secret.js';
import type { EngineProject } from '../../../src/util/project.js';

const dir = mkdtempSync(join(tmpdir(), 'pse-secret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

/** The flags as `serve`/`start` hand them over: values, where each came from, and the secret's origin in words. */
function resolveSecret(c: {
  cwd: string;
  secret?: string;
  secretFrom?: ValueSource;
  secretFile?: string;
  secretFileFrom?: ValueSource;
  secretSource?: string;
}) {
  const project = { dir: c.cwd } as EngineProject;
  return resolveEngineSecret(
    {
      cwd: c.cwd,
      secret: c.secret,
      secretFile: c.secretFile,
      sources: { secret: c.secretFrom, secretFile: c.secretFileFrom },
      origins: { secret: c.secretSource },
    },
    'start',
    project,
  );
}

describe('resolveSecret', () => {
  it('a file beats a variable of a lower layer, a flag beats a file from the environment; one trailing newline is dropped', () => {
    const path = file('s1', 'from-file\n');
    expect(resolveSecret({ cwd: dir, secret: 'from-dotenv', secretFrom: 'dotenv', secretFile: path, secretFileFrom: 'flag' })).toEqual({
      secret: 'from-file',
      source: path,
    });
    expect(resolveSecret({ cwd: dir, secret: 'from-dotenv', secretFrom: 'dotenv', secretFile: path, secretFileFrom: 'env' })).toEqual({
      secret: 'from-file',
      source: path,
    });
    expect(
      resolveSecret({
        cwd: dir,
        secret: 'from-flag',
        secretFrom: 'flag',
        secretFile: path,
        secretFileFrom: 'env',
        secretSource: '--secret',
      }),
    ).toEqual({ secret: 'from-flag', source: '--secret' });
    // WEBHOOK_SECRET_FILE in .env is relative to the project.
    expect(resolveSecret({ cwd: dir, secretFile: 's1', secretFileFrom: 'dotenv' })).toEqual({ secret: 'from-file', source: path });
    expect(resolveSecret({ cwd: dir, secret: 'plain', secretFrom: 'env', secretSource: '$WEBHOOK_SECRET' })).toEqual({
      secret: 'plain',
      source: '$WEBHOOK_SECRET',
    });
  });

  it('refuses two sources of the same rank, an empty file and a file of several lines, each with a precise message', () => {
    const path = file('s2', 'x\n');
    expect(() => resolveSecret({ cwd: dir, secret: 'a', secretFrom: 'flag', secretFile: path, secretFileFrom: 'flag' })).toThrow(
      'both --secret and --secret-file are given',
    );
    expect(() => resolveSecret({ cwd: dir, secret: 'a', secretFrom: 'env', secretFile: path, secretFileFrom: 'env' })).toThrow(
      'both WEBHOOK_SECRET and WEBHOOK_SECRET_FILE are set',
    );
    expect(() => resolveSecret({ cwd: dir, secretFile: file('s3', '\n'), secretFileFrom: 'flag' })).toThrow(
      `the webhook secret file ${join(dir, 's3')} is empty`,
    );
    expect(() => resolveSecret({ cwd: dir, secretFile: file('s4', 'a\nb\n'), secretFileFrom: 'flag' })).toThrow('holds more than one line');
    expect(() => resolveSecret({ cwd: dir, secretFile: join(dir, 'none'), secretFileFrom: 'flag' })).toThrow(
      `cannot read the webhook secret file ${join(dir, 'none')}: no such file`,
    );
    expect(() => resolveSecret({ cwd: dir })).toThrow(
      'WEBHOOK_SECRET is not set: `start` will not run an engine that cannot check signatures',
    );
  });
});

describe('the Redis queue name', () => {
  it('is the package name (no `:`), or polyswarm-bounties without one; --queue-name wins', () => {
    expect(queueNameFor('@acme/engine')).toBe('@acme/engine');
    expect(queueNameFor('odd:name')).toBe('odd-name');
    expect(queueNameFor(null)).toBe('polyswarm-bounties');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-engine' }));
    expect(sharedQueueName(dir, undefined)).toEqual({ queueName: 'my-engine', engine: 'my-engine' });
    expect(sharedQueueName(dir, 'shared')).toEqual({ queueName: 'shared', engine: 'my-engine' });
    expect(sharedQueueName(join(dir, 'nowhere'), undefined)).toEqual({ queueName: 'polyswarm-bounties', engine: null });
  });

  it('a name given by the user: what is refused and why', () => {
    expect(queueNameProblem('engine-a')).toBeNull();
    expect(queueNameProblem(' ')).toBe('is empty');
    expect(queueNameProblem('a:b')).toBe('contains `:` (Redis keys use it as a separator)');
    expect(queueNameProblem('a b')).toBe('contains white space');
    expect(queueNameProblem('x'.repeat(201))).toBe('is longer than 200 characters');
  });
});
