/**
 * Scanning off the event loop: a few worker threads (src/yara-worker.mjs), each holding the compiled rule set, take
 * the artifacts in turn. The rules are compiled once per thread when the scanner starts, never per bounty.
 *
 * Why threads: the YARA-X binding's `scanAsync` (in @litko/yara-x 0.3) still scans on the main thread, and an 8 MiB
 * file takes tens of milliseconds or more to scan, during which the engine could not acknowledge new bounties.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ruleCompileError, type RuleSet } from './rules.js';

/** A rule that matched, with its `meta:` fields. */
export interface RuleMatch {
  rule: string;
  namespace: string;
  tags: string[];
  meta: Record<string, unknown>;
}

interface Pending {
  resolve: (matches: RuleMatch[]) => void;
  reject: (error: Error) => void;
}

interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
  /** Resolves with the compiler's warnings once the rules are compiled, rejects with a RuleCompileError. */
  ready: Promise<string[]>;
}

const WORKER_URL = new URL('./yara-worker.mjs', import.meta.url);

/** Threads by default: one per core, at most 4 (each holds its own copy of the compiled rules). */
export function defaultThreads(): number {
  const fromEnv = Number(process.env.YARA_THREADS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.min(4, availableParallelism());
}

export class YaraScanner {
  /** The compiler's warnings (rules that compile but may not do what you meant). */
  warnings: string[] = [];
  private readonly threads: Thread[];
  private nextId = 0;
  private retired = false;

  private constructor(
    readonly ruleSet: RuleSet,
    threads: number,
  ) {
    this.threads = Array.from({ length: Math.max(1, threads) }, () => this.spawn());
  }

  /**
   * Starts `threads` scanning threads on `ruleSet`. Resolves once every thread has compiled the rules; rejects with
   * a RuleCompileError (file, line and column of the rule) when they do not compile.
   */
  static async start(ruleSet: RuleSet, threads = defaultThreads()): Promise<YaraScanner> {
    const scanner = new YaraScanner(ruleSet, threads);
    try {
      [scanner.warnings = []] = await Promise.all(scanner.threads.map((t) => t.ready));
    } catch (error) {
      await scanner.close();
      throw error;
    }
    return scanner;
  }

  /** The rules that match `bytes`. Rejects when `signal` fires first (the thread finishes that scan regardless). */
  scan(bytes: Uint8Array, signal?: AbortSignal): Promise<RuleMatch[]> {
    signal?.throwIfAborted();
    // The least busy thread; ties go to the first.
    const thread = this.threads.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = ++this.nextId;
    return new Promise<RuleMatch[]>((resolve, reject) => {
      const onAbort = () => {
        thread.pending.delete(id);
        this.idle(thread);
        reject(signal!.reason instanceof Error ? signal!.reason : new Error('scan aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      thread.pending.set(id, {
        resolve: (matches) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(matches);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      // Busy threads keep the process alive; idle ones do not (a test or a script may end without closing us).
      if (thread.pending.size === 1) thread.worker.ref();
      thread.worker.postMessage({ id, bytes });
    });
  }

  /** Stops the threads once their scans are done: for the scanner of a rule set that was replaced. */
  retire(): void {
    this.retired = true;
    for (const thread of this.threads) this.idle(thread);
  }

  /** Stops the threads now; scans still running are rejected. */
  async close(): Promise<void> {
    this.retired = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  private idle(thread: Thread): void {
    if (thread.pending.size > 0) return;
    thread.worker.unref();
    if (this.retired) void thread.worker.terminate();
  }

  private spawn(): Thread {
    const { ruleSet } = this;
    const worker = new Worker(WORKER_URL, { workerData: { source: ruleSet.source, dir: ruleSet.dir } });
    const pending = new Map<number, Pending>();
    const ready = new Promise<string[]>((resolve, reject) => {
      worker.once('message', (first: { ready: boolean; warnings?: string[]; error?: string }) => {
        if (first.ready) resolve(first.warnings ?? []);
        else reject(ruleCompileError(first.error ?? 'the rules did not compile', ruleSet));
      });
      worker.once('error', reject);
    });
    const thread: Thread = { worker, pending, ready };
    worker.on('message', (reply: { id?: number; matches?: RuleMatch[]; error?: string }) => {
      const waiting = reply.id === undefined ? undefined : pending.get(reply.id);
      if (!waiting) return;
      pending.delete(reply.id!);
      if (reply.error !== undefined) waiting.reject(new Error(`YARA scan failed: ${reply.error}`));
      else waiting.resolve(reply.matches ?? []);
      this.idle(thread);
    });
    // A thread that dies (out of memory, a crash in the binding) fails its scans, and a new one takes its place.
    let crash: Error | undefined;
    worker.on('error', (error) => {
      crash = error;
    });
    worker.on('exit', (code) => {
      const reason = `the YARA scanning thread stopped (${crash ? crash.message : `exit code ${code}`})`;
      for (const waiting of pending.values()) waiting.reject(new Error(reason));
      pending.clear();
      const index = this.threads.indexOf(thread);
      if (!this.retired && index >= 0) this.threads[index] = this.spawn();
    });
    return thread;
  }
}

const CURRENT = Symbol.for('yara-engine.scanner');

/**
 * Starts the scanner of `ruleSet` and retires the one started before it in this process. Under `npm run dev` a saved
 * rule loads src/scan.ts again: the new rules compile first, so a rule that does not compile throws here and
 * leaves the last good set serving; the old threads stop once their scans are done.
 */
export async function startScanner(ruleSet: RuleSet): Promise<YaraScanner> {
  const scanner = await YaraScanner.start(ruleSet);
  const process = globalThis as { [CURRENT]?: YaraScanner };
  process[CURRENT]?.retire();
  process[CURRENT] = scanner;
  return scanner;
}
