import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** The built CLI: e2e tests run exactly what users run (`npm run build` first; `npm test` does). */
export const BIN = fileURLToPath(new URL('../../bin/polyswarm-engine.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface RunOptions {
  cwd?: string;
  input?: string | Uint8Array;
  env?: Record<string, string | undefined>;
  timeout?: number;
}

export interface BinResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/** Runs the built bin with colours off and CI set; never rejects, so tests assert the exit code. */
export async function runBin(args: string[], options: RunOptions = {}): Promise<BinResult> {
  const r = await execa('node', [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    input: options.input,
    reject: false,
    timeout: options.timeout ?? 20_000,
    extendEnv: false,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NO_COLOR: '1',
      CI: '1',
      ...options.env,
    },
  });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}
