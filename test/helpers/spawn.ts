/**
 * The built bin as a running process, its output as lines, and a way to wait for a line: for tests of long-running
 * commands (`start`, `serve`, `worker`). Kill what a test started with `killAll()` in afterEach.
 */
import { execa, type ResultPromise } from 'execa';
import { BIN } from './bin.js';

const children = new Set<Proc>();

/** A running bin with its output as lines, and a way to wait for a line. */
export interface Proc {
  pid: number;
  lines: string[];
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | undefined>;
  kill(signal: NodeJS.Signals): Promise<number | undefined>;
}

export function spawnBin(args: string[], env: Record<string, string> = {}): Proc {
  const child: ResultPromise = execa('node', [BIN, ...args], {
    reject: false,
    all: true,
    buffer: false,
    // POLYSWARM_EGRESS=any: the answer receivers here are on loopback, which start and worker refuse by default.
    env: { ...process.env, NO_COLOR: '1', CI: '1', LOG_LEVEL: 'info', POLYSWARM_LOCK_DURATION: '2s', POLYSWARM_EGRESS: 'any', ...env },
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let rest = '';
  child.all!.on('data', (chunk: Buffer) => {
    const text = rest + chunk.toString('utf8');
    const parts = text.split('\n');
    rest = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters) w();
  });
  const exited = child.then((r) => (r.exitCode ?? undefined) as number | undefined);
  const proc: Proc = {
    pid: child.pid!,
    lines,
    waitFor(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (const line of lines) {
            const m = line.match(pattern);
            if (m) {
              waiters.delete(check);
              clearTimeout(timer);
              resolve(m);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${args[0]}: no line matching ${pattern} within ${timeoutMs} ms; output:\n${lines.slice(-30).join('\n')}`));
        }, timeoutMs);
        waiters.add(check);
        check();
        void exited.then(() => {
          if (!waiters.has(check)) return;
          check();
          if (waiters.has(check)) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`exited before a line matching ${pattern}; output:\n${lines.slice(-30).join('\n')}`));
          }
        });
      });
    },
    exited,
    async kill(signal) {
      child.kill(signal);
      return exited;
    },
  };
  children.add(proc);
  void exited.then(() => children.delete(proc));
  return proc;
}

/** SIGKILLs every process `spawnBin` started that is still running. */
export async function killAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.kill('SIGKILL')));
  children.clear();
}

/** The URL in a `ready` line (`start`, `serve`). */
export const READY_URL = /\bready\b.*?url[=":]+"?(https?:\/\/[^\s"]+)/;
