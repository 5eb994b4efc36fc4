/**
 * The embedded queue's journal: every accepted bounty is written to an LMDB database on disk before its 202, and
 * removed once it is answered (or has expired), so a crash, an out-of-memory kill or a SIGKILL loses nothing that
 * was acknowledged: the next start answers it. Answered bounty keys stay until their expiration, so a delivery sent
 * again after a restart is still recognised as a duplicate (docs/protocol.md §9).
 *
 * Why LMDB (the `lmdb` package): it installs from prebuilt packages on the npm registry (about 5 s, no compiler),
 * survives a killed process by design (copy-on-write B-tree, no recovery step), and batches the writes of one event
 * loop turn into a single commit, so 2,000 acknowledgements cost one transaction, not 2,000 fsyncs.
 *
 * Durability: a put resolves when its transaction is committed; LMDB's flush to disk follows (overlapping sync).
 * A process crash after the 202 loses nothing; a power cut can lose the last few milliseconds of commits.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { UsageError, errorMessage } from '../util/errors.js';
import { processAlive as isAlive } from '../util/project.js';

/** One journaled bounty: the raw signed body (re-parsed on restore) and what the webhook said about it. */
export interface JournalRecord {
  body: Uint8Array;
  deliveryId: string | null;
  receivedAt: number;
  /** ms since the epoch, so expired records are dropped without parsing their body. */
  expiresAt: number;
}

export interface Journal {
  /** Where it lives, for logs. */
  readonly path: string;
  /** Stores a pending bounty; resolves once committed (the 202 waits for this). */
  add(key: string, record: JournalRecord): Promise<void>;
  /** The bounty is answered (or will never be): forget its body, remember its key until `expiresAt`. */
  settle(key: string, expiresAt: number): Promise<void>;
  /** Pending bounties left by the previous run, and answered keys still live; expired ones are removed. */
  recover(now?: number): Promise<{ pending: [string, JournalRecord][]; answered: [string, number][]; dropped: string[] }>;
  close(): Promise<void>;
}

/** Another live engine holds the journal in this folder. */
export class JournalLockedError extends UsageError {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`another engine (pid ${pid}) is using the journal in ${dir}`, {
      hint: 'Stop it, or give this one its own folder with --state-dir (POLYSWARM_STATE_DIR), or pass --queue memory.',
    });
    this.name = 'JournalLockedError';
  }
}

const PENDING = 'p:';
const ANSWERED = 'a:';

/** The lock that keeps two engines from replaying each other's bounties. */
function takeLock(dir: string): () => void {
  const file = join(dir, 'journal.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw new JournalLockedError(dir, pid);
      // Left by a process that died (kill -9): take it over.
      rmSync(file, { force: true });
    }
  }
  throw new UsageError(`cannot lock the journal in ${dir}`);
}

/**
 * Opens (or creates) the journal in `dir`. Throws a UsageError saying why when it cannot: the engine never falls
 * back to a queue that would lose bounties without saying so.
 */
export function openJournal(dir: string): Journal {
  let release: () => void;
  let db: RootDatabase<JournalRecord | number, string>;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    release = takeLock(dir);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot open the journal in ${dir}: ${errorMessage(error)}`, {
      hint: 'Make the folder writable, or choose another with --state-dir (POLYSWARM_STATE_DIR).',
    });
  }
  try {
    db = open<JournalRecord | number, string>({ path: join(dir, 'journal.lmdb'), compression: false, mapSize: 2 * 1024 ** 3 });
  } catch (error) {
    release();
    throw new UsageError(`cannot open the journal ${join(dir, 'journal.lmdb')}: ${errorMessage(error)}`, {
      hint: 'If the file is damaged, move it away (its bounties are lost) or choose another folder with --state-dir.',
    });
  }
  const path = join(dir, 'journal.lmdb');
  let closing: Promise<void> | undefined;
  return {
    path,
    async add(key, record) {
      await db.put(PENDING + key, record);
    },
    async settle(key, expiresAt) {
      // Two writes of one turn: lmdb-js commits them in the same batch.
      const removed = db.remove(PENDING + key);
      if (expiresAt > Date.now()) await db.put(ANSWERED + key, expiresAt);
      await removed;
    },
    async recover(now = Date.now()) {
      const pending: [string, JournalRecord][] = [];
      const answered: [string, number][] = [];
      const dropped: string[] = [];
      const stale: string[] = [];
      for (const { key, value } of db.getRange()) {
        if (key.startsWith(PENDING)) {
          const record = value as JournalRecord;
          if (record.expiresAt <= now) {
            dropped.push(key.slice(PENDING.length));
            stale.push(key);
          } else pending.push([key.slice(PENDING.length), { ...record, body: new Uint8Array(record.body) }]);
        } else if (key.startsWith(ANSWERED)) {
          const until = value as number;
          if (until <= now) stale.push(key);
          else answered.push([key.slice(ANSWERED.length), until]);
        }
      }
      if (stale.length > 0) {
        await db.transaction(() => {
          for (const k of stale) db.remove(k);
        });
      }
      pending.sort((a, b) => a[1].receivedAt - b[1].receivedAt);
      return { pending, answered, dropped };
    },
    close() {
      closing ??= (async () => {
        try {
          await db.close();
        } finally {
          release();
        }
      })();
      return closing;
    },
  };
}
