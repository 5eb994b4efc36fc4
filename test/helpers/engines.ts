import { afterEach } from 'vitest';
import { createEngine } from '../../src/engine/engine.js';
import type { ScanModule } from '../../src/engine/types.js';
// @ts-expect-error plain .mjs fixtures, no types
import { startEngine } from '../fixtures/engines/engine.mjs';

/** The EICAR test file, assembled at run time so a local anti-malware product does not flag this source. */
export const EICAR = ['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS', '-TEST-FILE!$H+H*'].join('');

/** The project's own engine with the smallest real scan: EICAR is malicious, other files benign, URLs unknown. */
export const eicarScan: ScanModule = {
  async scan(bounty) {
    if (bounty.artifact_type === 'url') return { verdict: 'unknown', metadata: { comments: ['SKIPPED:TYPE-UNSUPPORTED'] } };
    const bytes = await bounty.fetchArtifact();
    return bytes.toString('latin1').includes(EICAR)
      ? { verdict: 'malicious', metadata: { malware_family: 'EICAR-Test-File' } }
      : { verdict: 'benign' };
  },
};

export interface Running {
  url: string;
  close(): Promise<void>;
}

/** The node:http fixture engine (test/fixtures/engines/engine.mjs), broken on purpose by its quirks; the caller closes it. */
export async function openFixture(secret: string, quirks: Record<string, unknown> = {}): Promise<Running> {
  return (await startEngine({ secret, quirks })) as Running;
}

/** The project's own engine (createEngine with `eicarScan`, or `module`) on 127.0.0.1:0; the caller closes it. */
export async function openOwn(secret: string, module: ScanModule = eicarScan): Promise<Running> {
  const engine = createEngine({ secret, module, concurrency: 8, deliveryMarginMs: 500 });
  const listening = await engine.listen({ port: 0, host: '127.0.0.1' });
  return {
    url: listening.url,
    close: async () => {
      await listening.close();
      await engine.close({ graceMs: 100 });
    },
  };
}

/**
 * Engines for `test` to talk to, all on loopback and closed after each test: `fixture(quirks)` is the node:http
 * fixture engine (test/fixtures/engines/engine.mjs, broken on purpose by its quirks), `own()` the project's own
 * engine (createEngine with `eicarScan`), `track(close)` anything else to close. Call at the top level of a test file.
 */
export function useEngines(secret: string) {
  let running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.map((r) => r.close()));
    running = [];
  });
  const opened = (engine: Running) => {
    running.push(engine);
    return engine.url;
  };
  return {
    /** Closes `close` after the test too (servers a test builds itself). */
    track(close: () => Promise<void>): void {
      running.push({ url: '', close });
    },
    fixture: async (quirks: Record<string, unknown> = {}): Promise<string> => opened(await openFixture(secret, quirks)),
    own: async (): Promise<string> => opened(await openOwn(secret)),
  };
}
