/**
 * Shared by the robustness suite: a throwaway engine project, the built bin's `start` as a child process (the
 * process users run, so a crash is a crash and a leaked timer or socket shows as a process that does not exit),
 * raw HTTP requests that the fetch API would refuse to send, and /proc readings of the engine's memory and sockets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { type Agent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../../helpers/bin.js';
import { SECRET } from '../../helpers/loopback.js';

export { SECRET };

/** Writes `package.json` + `src/scan.mjs` into a temp folder; remove it with `removeProject`. */
export function writeProject(scanSource: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'polyswarm-robustness-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'robustness-engine', version: '0.0.0', private: true, type: 'module' }));
  writeFileSync(join(dir, 'src', 'scan.mjs'), scanSource);
  return dir;
}

export function removeProject(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface EngineProcess {
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** Everything it printed so far (stdout + stderr). */
  output(): string;
  /** Resolves when it exits, with the time it did (Date.now()). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** SIGKILL if still running (for afterAll). */
  kill(): Promise<void>;
}

const READY = /\bready\b.*?url[=":]+"?(https?:\/\/[^\s"]+)/;

/**
 * Runs `polyswarm-engine start --port 0 --cwd <project> --secret SECRET --egress any [args]` and waits for its ready
 * line. `--egress any`: the artifact hosts and answer receivers of these tests are on loopback, which `start` refuses
 * by default.
 */
export async function startEngine(project: string, args: string[] = [], env: Record<string, string> = {}): Promise<EngineProcess> {
  const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--cwd', project, '--secret', SECRET, '--egress', 'any', ...args], {
    cwd: project,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', CI: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    // Keep the head (startup) and a bounded tail: a fuzz run logs thousands of lines.
    if (output.length > 2_000_000) output = output.slice(0, 100_000) + '\n…\n' + output.slice(-1_000_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`engine not ready within 15 s:\n${output}`));
    }, 15_000);
    const check = () => {
      const match = READY.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off('data', check);
      child.off('exit', onExit);
      resolve(match[1]!);
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`engine exited (${code}) before it was ready:\n${output}`));
    };
    child.stdout!.on('data', check);
    child.once('exit', onExit);
  });
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid!,
    child,
    output: () => output,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Resident memory of a process, in bytes (VmRSS). */
export function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!kb) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb[1]) * 1024;
}

/** How many sockets a process holds open (its file descriptors that link to `socket:[…]`). */
export function socketsOf(pid: number): number {
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) count++;
    } catch {
      // The descriptor closed between readdir and readlink.
    }
  }
  return count;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * One HTTP/1.1 request with exactly the method, header names (their casing too) and body bytes given: node:http
 * sends what fetch would normalise or refuse (odd methods, Latin-1 header values, duplicate headers). `chunked`
 * sends the body without a Content-Length. Rejects on a socket error before any response, or after `timeoutMs`.
 */
export function rawRequest(
  url: string,
  options: {
    method: string;
    path?: string;
    headers?: OutgoingHttpHeaders;
    body?: Buffer;
    chunked?: boolean;
    agent?: Agent;
    timeoutMs?: number;
  },
): Promise<RawResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port: Number(target.port),
      method: options.method,
      path: options.path ?? '/',
      headers: options.headers,
      agent: options.agent ?? false,
      setHost: true,
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`no response within ${options.timeoutMs ?? 10_000} ms`)),
      options.timeoutMs ?? 10_000,
    );
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const finish = () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      };
      res.on('end', finish);
      // A response cut short after its headers (the server closed a connection it refused): the status stands.
      res.on('error', finish);
      res.on('aborted', finish);
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    const body = options.body ?? Buffer.alloc(0);
    if (options.chunked) {
      // Explicit: node's client only chunks POST/PUT/PATCH bodies by itself.
      req.setHeader('transfer-encoding', 'chunked');
      for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024));
      req.end();
    } else {
      if (body.length > 0 && !hasHeader(options.headers, 'content-length')) req.setHeader('content-length', body.length);
      req.end(body);
    }
  });
}

function hasHeader(headers: OutgoingHttpHeaders | undefined, name: string): boolean {
  return Object.keys(headers ?? {}).some((k) => k.toLowerCase() === name);
}
