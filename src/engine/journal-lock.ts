/**
 * The lock that keeps two engines from replaying each other's bounties: a unix socket, `journal.sock`, listening in
 * the journal's folder. The kernel closes it when its process dies, however it dies, so a restart right after
 * `kill -9` takes it, also when the dead pid is reused (a container's engine is pid 1), which a pid file cannot tell.
 *
 * Not flock(2): Node has none, the npm packages that add it compile at install, and LMDB's own locks let processes
 * share a journal by design. `listen` binds (the lock is ours) or finds the file; then a connect tells a live holder
 * (it answers its pid) from a dead one's file (refused), which is removed. It works across containers sharing the
 * volume. The connect runs in a short child process, so `openJournal` stays synchronous. Left window: two engines
 * starting on one folder in the same microseconds after a crash (the removal checks the file is the one found dead).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, lstatSync, openSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { errorMessage } from '../util/errors.js';
import { EngineError } from './errors.js';

export const LOCK_FILE = 'journal.sock';

/** Another live engine holds the journal in `dir` (code JOURNAL_LOCKED; `pid` when it answered with it). */
export class JournalLockedError extends EngineError<{ dir: string; pid?: number }> {
  constructor(dir: string, pid?: number) {
    super('JOURNAL_LOCKED', `another engine${pid ? ` (pid ${pid})` : ''} is using the journal in ${dir}`, pid ? { dir, pid } : { dir });
  }
}

/** The longest socket path `bind` takes everywhere (Linux allows 107 bytes, macOS 103). */
const MAX_SOCKET_PATH = 100;

/**
 * Connects to `journal.sock` from a child process whose working folder is `dir` (so the path is short whatever the
 * folder): prints `live <pid>`, `live` (connected, no pid in time), `stale`, `gone` or `error <code>`.
 */
const PROBE = `const s = require('node:net').connect('${LOCK_FILE}');
let pid = '';
const done = (w) => { process.stdout.write(w); process.exit(0); };
s.on('connect', () => setTimeout(() => done('live'), 1000));
s.on('data', (d) => { pid += d; });
s.on('end', () => done('live ' + pid.trim()));
s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'stale' : e.code === 'ENOENT' ? 'gone' : e.code === 'EAGAIN' ? 'live' : 'error ' + e.code));`;

function probe(dir: string): string {
  const r = spawnSync(process.execPath, ['-e', PROBE], { cwd: dir, encoding: 'utf8', timeout: 10_000 });
  if (r.error) return `error ${errorMessage(r.error)}`;
  return r.stdout.trim() || `error the probe exited ${r.status ?? r.signal}`;
}

function unavailable(dir: string, reason: string): EngineError {
  return new EngineError('JOURNAL_UNAVAILABLE', `cannot lock the journal in ${dir}: ${reason}`, {
    dir,
    path: join(dir, LOCK_FILE),
    reason,
  });
}

/** Listens on the lock socket; the listening server (unref'd), or null when the bind failed. */
function bind(dir: string): { close(): void } | null {
  const path = join(dir, LOCK_FILE);
  let dirFd: number | undefined;
  let at = path;
  if (Buffer.byteLength(at) > MAX_SOCKET_PATH) {
    const rel = relative(process.cwd(), path);
    if (Buffer.byteLength(rel) <= MAX_SOCKET_PATH) at = rel;
    else if (process.platform === 'linux') {
      // A long folder: bind through this process's descriptor of it, a short path to the same place.
      dirFd = openSync(dir, 'r');
      at = `/proc/self/fd/${dirFd}/${LOCK_FILE}`;
    } else throw unavailable(dir, `its path is too long for a unix socket (at most ${MAX_SOCKET_PATH} bytes)`);
  }
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(`${process.pid}\n`);
  });
  // A failed bind is reported asynchronously; whether it bound is known at once (`listening`), which is all we need.
  server.on('error', () => {});
  try {
    server.listen({ path: at, exclusive: true });
  } finally {
    if (dirFd !== undefined && !server.listening) closeSync(dirFd);
  }
  if (!server.listening) return null;
  server.unref();
  return {
    close() {
      server.close(); // closing unlinks the socket file
      if (dirFd !== undefined) closeSync(dirFd);
    },
  };
}

/** Takes the lock on `dir`'s journal; returns its release. Throws JOURNAL_LOCKED or JOURNAL_UNAVAILABLE. */
export function takeLock(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 5; attempt++) {
    const held = bind(dir);
    if (held) return () => held.close();
    let found: ReturnType<typeof lstatSync>;
    try {
      found = lstatSync(path);
    } catch {
      // Not there: the bind failed for another reason (or the file just went: try again).
      try {
        accessSync(dir, constants.W_OK | constants.X_OK);
      } catch (error) {
        throw unavailable(dir, errorMessage(error));
      }
      continue;
    }
    const answer = probe(dir);
    if (answer.startsWith('live')) {
      const pid = Number(answer.slice(5));
      throw new JournalLockedError(dir, Number.isInteger(pid) && pid > 0 ? pid : undefined);
    }
    if (answer.startsWith('error')) throw unavailable(dir, `cannot tell whether ${path} is in use (${answer.slice(6)})`);
    if (answer === 'stale') {
      // Left by an engine that died: remove it, unless another engine has replaced it meanwhile.
      try {
        if (lstatSync(path).ino === found.ino) unlinkSync(path);
      } catch {
        // Already removed by another engine starting now: the next bind decides.
      }
    }
  }
  throw unavailable(dir, `${path} keeps being replaced by another process`);
}
