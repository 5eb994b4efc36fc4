import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lookupSecret } from '../util/env.js';
import { UnreachableError, UsageError } from '../util/errors.js';
import { detectProject, processAlive as isAlive, readServeState } from '../util/project.js';
import { send } from './http.js';

export const DEFAULT_ENGINE_URL = 'http://127.0.0.1:3000/';

/** What `serve` prints once it listens (engine-CLI contract); group 1 is the URL. */
export const READY_LINE = /\bready\b.*?url[=":]+"?(https?:\/\/[^\s"]+)/;

const BOOT_DEADLINE_MS = 30_000;
const STOP_DEADLINE_MS = 10_000;

/** The engine a `test` run talks to, and how to let go of it afterwards. */
export interface Target {
  url: string;
  secret: string;
  secretSource: string;
  /** Which engine this is, for people (`--url`, a running serve, or one booted for the run). */
  description: string;
  /** Stops an engine booted for the run; a no-op otherwise. */
  stop(): Promise<void>;
}

export interface TargetOptions {
  url?: string;
  secret?: string;
  cwd: string;
  /** Environment for the secret lookup and a booted engine (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** The engine's URL, checked: an absolute http(s) URL (a usage error otherwise). */
export function parseEngineUrl(url: string): URL {
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  if (parsed === null || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.hostname === '') {
    throw new UsageError(`--url ${JSON.stringify(url)} is not an http(s) URL`, { hint: 'For example: --url http://127.0.0.1:3000/' });
  }
  return parsed;
}

function requireSecret(flag: string | undefined, dir: string, env: NodeJS.ProcessEnv) {
  const found = lookupSecret(flag, dir, env);
  if (!found) {
    throw new UsageError('no webhook secret to sign the events with', {
      hint: `Pass --secret, set WEBHOOK_SECRET, or put WEBHOOK_SECRET=… in ${join(dir, '.env')} (the engine must use the same one).`,
    });
  }
  return found;
}

/** The URL a `serve` of the project recorded, if that process is alive and its `GET /` answers. */
async function runningServe(project: string): Promise<{ url: string; pid: number; stale?: string } | null> {
  const state = readServeState(project);
  if (!state || !isAlive(state.pid)) return null;
  try {
    const res = await send(new URL(state.url), { method: 'GET', timeoutMs: 2000 });
    return res.status < 500 ? { url: state.url, pid: state.pid, stale: typeof state.stale === 'string' ? state.stale : undefined } : null;
  } catch {
    return null;
  }
}

/** This package's CLI (the same one that is running), to boot `serve` with. */
function binPath(): string {
  return fileURLToPath(new URL('../../bin/polyswarm-engine.js', import.meta.url));
}

/** Boots `serve --port 0 --no-watch` for the project and waits for its ready line. */
async function bootServe(project: string, secret: string, env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  // --egress any: this run's artifact host and answer receiver are on loopback, whatever POLYSWARM_EGRESS says.
  const child = spawn(
    process.execPath,
    [binPath(), 'serve', '--port', '0', '--no-watch', '--no-inspector', '--egress', 'any', '--cwd', project],
    {
      cwd: project,
      // The secret goes through the environment, not argv (visible in `ps`).
      env: { ...env, WEBHOOK_SECRET: secret, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new UnreachableError(`the project's engine did not report ready within ${BOOT_DEADLINE_MS / 1000} s`, { hint: tail(output) }));
    }, BOOT_DEADLINE_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      for (const line of output.split('\n')) {
        const match = READY_LINE.exec(line);
        if (match) {
          clearTimeout(timer);
          resolveUrl(match[1]);
          return;
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new UnreachableError(`could not start the project's engine: ${error.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      const message = `could not start the project's engine: \`polyswarm-engine serve\` exited with code ${code} before it was ready`;
      reject(code === 2 ? new UsageError(message, { hint: tail(output) }) : new UnreachableError(message, { hint: tail(output) }));
    });
  });
  // Keep draining its output so the child never blocks on a full pipe.
  child.stdout!.resume();
  child.stderr!.resume();
  return { url, child };
}

function tail(output: string): string {
  const lines = output.trim().split('\n').filter(Boolean).slice(-5);
  return lines.length > 0 ? `its last output:\n  ${lines.join('\n  ')}` : 'it printed nothing';
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * Zero setup: an explicit `--url`; else, inside an engine project, the URL its running `serve` recorded in
 * `.polyswarm/serve.json`, or a `serve` booted for this run on a free loopback port; else the default URL.
 */
export async function resolveTarget(options: TargetOptions): Promise<Target> {
  const env = options.env ?? process.env;
  if (!existsSync(options.cwd)) throw new UsageError(`--cwd ${options.cwd}: no such folder`);
  const project = detectProject(options.cwd)?.dir ?? null;
  if (options.url !== undefined) parseEngineUrl(options.url);
  const { secret, source } = requireSecret(options.secret, project ?? resolve(options.cwd), env);
  const target = (url: string, description: string, stop: Target['stop'] = async () => undefined): Target => ({
    url,
    secret,
    secretSource: source,
    description,
    stop,
  });
  if (options.url !== undefined) return target(options.url, options.url);
  if (project === null) return target(DEFAULT_ENGINE_URL, `${DEFAULT_ENGINE_URL} (the default; pass --url for another)`);
  const running = await runningServe(project);
  if (running) {
    // The last save did not load: the engine answers with older code than the file shows, and the reader must know.
    const stale = running.stale ? `; it runs the last good code, your last save did not load: ${running.stale}` : '';
    return target(running.url, `${running.url} (the running \`serve\` of ${project}, pid ${running.pid}${stale})`);
  }
  const booted = await bootServe(project, secret, env);
  const description = `${booted.url} (${project}'s engine, booted for this run, pid ${booted.child.pid})`;
  return target(booted.url, description, () => stopChild(booted.child));
}
