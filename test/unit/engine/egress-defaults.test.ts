/**
 * Each command's egress default (README, Security): `start` and `worker` refuse non-public destinations unless told
 * otherwise, `serve` allows loopback for local development; POLYSWARM_EGRESS and `.env` set it like any flag.
 */
import { describe, expect, it } from 'vitest';
import { serve } from '../../../src/commands/serve.js';
import { start } from '../../../src/commands/start.js';
import { worker } from '../../../src/commands/worker.js';
import { resolveOptions } from '../../../src/runtime/config.js';

const layers = (env: NodeJS.ProcessEnv = {}, dotenv: Record<string, string> = {}) => ({ flags: {}, env, dotenv, dotenvPath: '/p/.env' });

describe('egress defaults per command', () => {
  it('start and worker default to public, serve to any', () => {
    expect(resolveOptions(start.options, layers()).values.egress).toBe('public');
    expect(resolveOptions(worker.options, layers()).values.egress).toBe('public');
    expect(resolveOptions(serve.options, layers()).values.egress).toBe('any');
  });

  it('POLYSWARM_EGRESS, POLYSWARM_EGRESS_ALLOW and WEBHOOK_SECRET_PREVIOUS come from the environment or .env', () => {
    const fromEnv = resolveOptions(
      start.options,
      layers({ POLYSWARM_EGRESS: 'ANY', POLYSWARM_EGRESS_ALLOW: '10.0.0.0/8, mirror.internal', WEBHOOK_SECRET_PREVIOUS: 'old' }),
    );
    expect(fromEnv.values).toMatchObject({ egress: 'any', egressAllow: ['10.0.0.0/8', 'mirror.internal'], previousSecret: 'old' });
    expect(resolveOptions(worker.options, layers({}, { POLYSWARM_EGRESS: 'any' })).values.egress).toBe('any');
    expect(() => resolveOptions(start.options, layers({ POLYSWARM_EGRESS: 'none' }))).toThrow(
      '$POLYSWARM_EGRESS (for --egress): "none" must be one of public, any',
    );
  });
});
