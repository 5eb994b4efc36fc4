/**
 * Helpers for the serve/start e2e tests: a temp engine project, the built bin as a long-running child whose
 * output lines can be awaited, and a loopback host that serves artifacts and receives answers.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach } from 'vitest';
import { sign } from '../../src/protocol/signature.js';
import { BIN, ROOT } from '../helpers/bin.js';
import { until } from '../helpers/poll.js';

export const SECRET = 'qwertyuiop';
export const READY = /\bready\b.*?url[=":]+"?(https?:\/\/[^\s"]+)/;

/** A temp engine project; `node_modules/polyswarm-engine` links to this repo so imports of the package resolve. */
export function makeProject(
  files: Record<string, string>,
  options: { env?: string | null } = {},
): { dir: string; write(name: string, text: string): void; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'pse-serve-'));
  const write = (name: string, text: string) => {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  };
  write('package.json', JSON.stringify({ name: 'e2e-engine', private: true, type: 'module', dependencies: { 'polyswarm-engine': '*' } }));
  if (options.env !== null) write('.env', options.env ?? `WEBHOOK_SECRET=${SECRET}\n`);
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules', 'polyswarm-engine'), 'dir');
  for (const [name, text] of Object.entries(files)) write(name, text);
  return { dir, write, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Child {
  proc: ResultPromise;
  /** Every stdout and stderr line so far. */
  lines: string[];
  output(): string;
  /** Resolves with the match of the first line (past or future) matching `re`; rejects at the deadline. */
  waitFor(re: RegExp, timeoutMs?: number, from?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code; rejects at the deadline. */
  exited(timeoutMs?: number): Promise<number>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Starts the built bin with a clean environment (no WEBHOOK_SECRET unless given), colours off. The egress policy is
 * opened to loopback (`POLYSWARM_EGRESS=any`): `start` and `worker` refuse it by default, and these tests' artifact
 * hosts and answer receivers live on 127.0.0.1. Tests of the policy itself pass their own value.
 */
export function spawnBin(args: string[], env: Record<string, string> = {}): Child {
  const proc = execa('node', [BIN, ...args], {
    reject: false,
    extendEnv: false,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', CI: '1', POLYSWARM_EGRESS: 'any', ...env },
    stdin: 'ignore',
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
      for (const l of listeners) l();
    });
  };
  collect(proc.stdout);
  collect(proc.stderr);
  let exitCode: number | undefined;
  const done = proc.then((r) => {
    exitCode = r.exitCode ?? (r.signal ? 128 : -1);
    for (const l of listeners) l();
    return exitCode;
  });
  return {
    proc,
    lines,
    output: () => lines.join('\n'),
    waitFor(re, timeoutMs = 10_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (const line of lines.slice(from)) {
            const m = re.exec(line);
            if (m) {
              cleanup();
              return resolve(m);
            }
          }
          if (exitCode !== undefined) {
            cleanup();
            reject(new Error(`process exited (${exitCode}) before a line matched ${re}:\n${lines.join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no line matched ${re} within ${timeoutMs} ms:\n${lines.join('\n')}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    exited(timeoutMs = 15_000) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<number>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`process did not exit within ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs);
      });
      return Promise.race([done, deadline]).finally(() => clearTimeout(timer));
    },
    kill(signal = 'SIGTERM') {
      proc.kill(signal);
    },
  };
}

export interface Answer {
  id: string;
  body: { verdict: string; bid?: string | number; metadata?: { comments?: string[] } & Record<string, unknown> };
  at: number;
}

/** Serves `GET /artifact` and receives `POST /answer/<id>` on 127.0.0.1:0. */
export async function startLoopback(): Promise<{
  url: string;
  answers: Answer[];
  waitForAnswers(n: number, timeoutMs?: number): Promise<Answer[]>;
  close(): Promise<void>;
}> {
  const answers: Answer[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/artifact') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('harmless bytes\n');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url?.startsWith('/answer/')) {
        answers.push({
          id: decodeURIComponent(req.url.slice(8)),
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          at: performance.now(),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    answers,
    async waitForAnswers(n, timeoutMs = 10_000) {
      await until(() => answers.length >= n, `${n} answers (got ${answers.length})`, timeoutMs);
      return answers;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** POSTs a signed bounty whose artifact and answer go to `loopback` (`extra` fields added); returns the HTTP status. */
export async function sendBounty(
  engineUrl: string,
  loopbackUrl: string,
  id: string,
  expiresInMs = 8000,
  extra: Record<string, unknown> = {},
): Promise<number> {
  const body = JSON.stringify({
    id,
    artifact_type: 'file',
    artifact_uri: `${loopbackUrl}artifact`,
    expiration: new Date(Date.now() + expiresInMs).toISOString(),
    response_url: `${loopbackUrl}answer/${encodeURIComponent(id)}`,
    rules: { min_allowed_bid: 62500000000000000, max_allowed_bid: 1000000000000000000 },
    phase: 'assertion',
    ...extra,
  });
  return postSignedBounty(engineUrl, body);
}

/** POSTs `body` as a signed bounty delivery (a new delivery id) and returns the HTTP status. */
export async function postSignedBounty(engineUrl: string, body: string): Promise<number> {
  const res = await fetch(engineUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-polyswarm-event': 'bounty',
      'x-polyswarm-delivery': randomUUID(),
      'x-polyswarm-signature': sign(SECRET, body),
    },
    body,
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  return res.status;
}

/**
 * Cleanup for a test file, run after each test in reverse order: `cleanup.push(fn)` for anything, `track(child)`
 * for a spawned bin (SIGKILLed if it is still running). Call once at the top level of the file.
 */
export function useCleanup(): { cleanup: (() => unknown)[]; track(child: Child): Child } {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  return {
    cleanup,
    track(child) {
      cleanup.push(async () => {
        if (child.proc.exitCode === null) {
          child.kill('SIGKILL');
          await child.exited(5000).catch(() => undefined);
        }
      });
      return child;
    },
  };
}
