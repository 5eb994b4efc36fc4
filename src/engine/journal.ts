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
 * Group commit: the bounties received in one event loop turn share a transaction, and each 202 waits for it. Settles
 * (answered: body out, key kept) wait in memory and ride with the next accept's transaction, or are written on their
 * own after SETTLE_BATCH_MS, and at close: a settle alone cost a transaction and an fdatasync per bounty. A crash
 * loses at most the settles of that window, whose bounties are then answered again (docs/protocol.md §13).
 *
 * Durability: a put resolves when its transaction is committed; LMDB's flush to disk follows (overlapping sync).
 * A process crash after the 202 loses nothing; a power cut can lose the last few milliseconds of commits.
 *
 * Damage: LMDB trusts its file, and maps it, so a damaged one kills the process (SIGBUS, SIGSEGV, an assertion).
 * An existing file is therefore read whole by a child process before this one maps it (journal-check.ts), and is
 * refused as JOURNAL_DAMAGED when it cannot be (skipped when the file is as a clean close left it, marked in
 * `journal.lmdb.clean`: the check costs a node start and lmdb's load, 0.1-0.5 s); each record carries a format version and a CRC-32, and a record
 * that fails them is counted, named and removed by `recover`, never restored and never dropped silently. The lock
 * is a socket the kernel releases with its process (journal-lock.ts).
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { open, type RootDatabase } from 'lmdb';
import { errorMessage } from '../util/errors.js';
import { EngineError } from './errors.js';
import { checkJournalFile, LMDB_OPTIONS } from './journal-check.js';
import { takeLock } from './journal-lock.js';

export { JournalLockedError } from './journal-lock.js';

/** One journaled bounty: the raw signed body (re-parsed on restore) and what the webhook said about it. */
export interface JournalRecord {
  body: Uint8Array;
  deliveryId: string | null;
  receivedAt: number;
  /** ms since the epoch, so expired records are dropped without parsing their body. */
  expiresAt: number;
}

export interface JournalRecovery {
  pending: [string, JournalRecord][];
  answered: [string, number][];
  /** Pending bounties that expired while no engine ran. */
  dropped: string[];
  /** Records that failed their checksum or format (removed): the key as read, and why. Never silent: see recover. */
  damaged: { key: string; reason: string }[];
}

export interface Journal {
  /** Where it lives, for logs. */
  readonly path: string;
  /** How long the check of the existing file took at open (ms; 0 for a new file or one closed cleanly), for logs. */
  readonly checkMs: number;
  /** Stores a pending bounty; resolves once committed (the 202 waits for this). */
  add(key: string, record: JournalRecord): Promise<void>;
  /**
   * The bounty is answered (or will never be): forget its body, remember its key until `expiresAt`. Written with the
   * next `add`, after SETTLE_BATCH_MS, or at `close`, whichever comes first; resolves once committed.
   */
  settle(key: string, expiresAt: number): Promise<void>;
  /** Pending bounties left by the previous run, and answered keys still live; expired and damaged ones are removed. */
  recover(now?: number): Promise<JournalRecovery>;
  close(): Promise<void>;
}

const PENDING = 'p:';
const ANSWERED = 'a:';
/** How long a settle may wait for an accept's transaction to ride with before it is written on its own. */
const SETTLE_BATCH_MS = 50;

/**
 * A record's bytes: format version (1 byte), CRC-32 (4, little-endian) of the key's UTF-8 and every byte after the
 * checksum, expiresAt (f64); a pending one adds receivedAt (f64), the delivery id's length (u32, 0xffffffff for
 * none), the delivery id and the body. The version lets a later format be told from damage.
 */
const FORMAT = 1;
const HEADER = 1 + 4 + 8;
const NO_DELIVERY = 0xffffffff;

function encode(key: string, expiresAt: number, record?: JournalRecord): Buffer {
  const delivery = record?.deliveryId == null ? null : Buffer.from(record.deliveryId);
  const size = HEADER + (record ? 8 + 4 + (delivery?.length ?? 0) + record.body.byteLength : 0);
  const out = Buffer.allocUnsafe(size);
  out[0] = FORMAT;
  out.writeDoubleLE(expiresAt, 5);
  if (record) {
    out.writeDoubleLE(record.receivedAt, HEADER);
    out.writeUInt32LE(delivery?.length ?? NO_DELIVERY, HEADER + 8);
    let at = HEADER + 12;
    if (delivery) at += delivery.copy(out, at);
    out.set(record.body, at);
  }
  out.writeUInt32LE(crc32(out.subarray(5), crc32(key)), 1);
  return out;
}

/** The record of `bytes` stored under `key`, or why it cannot be trusted. */
function decode(key: string, bytes: Buffer, pending: boolean): { expiresAt: number; record?: JournalRecord } | { damage: string } {
  if (bytes.length < HEADER || bytes[0] !== FORMAT) {
    return { damage: bytes.length === 0 ? 'empty record' : `unknown record format ${bytes[0]} (or a damaged header)` };
  }
  if (bytes.readUInt32LE(1) !== crc32(bytes.subarray(5), crc32(key))) return { damage: 'checksum mismatch' };
  const expiresAt = bytes.readDoubleLE(5);
  if (!pending) return { expiresAt };
  if (bytes.length < HEADER + 12) return { damage: 'pending record too short' };
  const length = bytes.readUInt32LE(HEADER + 8);
  const at = HEADER + 12 + (length === NO_DELIVERY ? 0 : length);
  if (at > bytes.length) return { damage: 'delivery id longer than the record' };
  return {
    expiresAt,
    record: {
      receivedAt: bytes.readDoubleLE(HEADER),
      deliveryId: length === NO_DELIVERY ? null : bytes.toString('utf8', HEADER + 12, at),
      // A copy: the value buffer may be reused by LMDB's next read.
      body: Uint8Array.prototype.slice.call(bytes, at),
      expiresAt,
    },
  };
}

/** A record of the msgpack format before version 1, if `value` is one (no checksum: its shape is checked). */
function fromLegacy(value: unknown, pending: boolean): { expiresAt: number; record?: JournalRecord } | undefined {
  if (!pending) return typeof value === 'number' && Number.isFinite(value) ? { expiresAt: value } : undefined;
  const r = value as Partial<JournalRecord> | null;
  if (!r || !(r.body instanceof Uint8Array) || !Number.isFinite(r.expiresAt) || !Number.isFinite(r.receivedAt)) return undefined;
  if (r.deliveryId !== null && typeof r.deliveryId !== 'string') return undefined;
  const record = { body: new Uint8Array(r.body), deliveryId: r.deliveryId, receivedAt: r.receivedAt!, expiresAt: r.expiresAt! };
  return { expiresAt: record.expiresAt, record };
}

/** What identifies the file's state at a clean close: inode, size, modification time. */
function cleanStamp(path: string): string {
  const st = statSync(path);
  return JSON.stringify([st.ino, st.size, st.mtimeMs]);
}

/** The mark a clean close leaves beside the file, and whether the file is still as it was then. */
function cleanMark(path: string): { file: string; matches: boolean } {
  const file = `${path}.clean`;
  try {
    return { file, matches: readFileSync(file, 'utf8') === cleanStamp(path) };
  } catch {
    return { file, matches: false };
  }
}

/** A key as a log line may show it (a damaged key can be anything). */
function shownKey(key: unknown): string {
  const text = typeof key === 'string' ? key : (JSON.stringify(key) ?? String(key));
  return text.length > 100 ? `${text.slice(0, 64)}…(${text.length} characters)` : text;
}

/**
 * Opens (or creates) the journal in `dir`. Throws an EngineError saying why when it cannot (JOURNAL_LOCKED,
 * JOURNAL_UNAVAILABLE, JOURNAL_DAMAGED): the engine never falls back to a queue that would lose bounties without
 * saying so, and never maps a damaged file (journal-check.ts).
 */
export function openJournal(dir: string): Journal {
  const path = join(dir, 'journal.lmdb');
  let release: () => void;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    release = takeLock(dir);
  } catch (error) {
    if (error instanceof EngineError) throw error;
    throw new EngineError('JOURNAL_UNAVAILABLE', `cannot open the journal in ${dir}: ${errorMessage(error)}`, {
      dir,
      reason: errorMessage(error),
    });
  }
  let db: RootDatabase<Buffer, string>;
  let checkMs = 0;
  try {
    let size: number | undefined;
    try {
      size = statSync(path).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    // A file this process is about to create needs no check; one that exists is read whole first, unless it is
    // exactly as the last clean close left it (a restart after a crash or a change while stopped is checked).
    const clean = cleanMark(path);
    rmSync(clean.file, { force: true });
    if (size !== undefined && !clean.matches) checkMs = checkJournalFile(path, size);
    db = open<Buffer, string>({ path, ...LMDB_OPTIONS });
  } catch (error) {
    release();
    if (error instanceof EngineError) throw error;
    throw new EngineError('JOURNAL_UNAVAILABLE', `cannot open the journal ${path}: ${errorMessage(error)}`, {
      dir,
      path,
      reason: errorMessage(error),
    });
  }
  /**
   * A failed write says it is the journal's, with LMDB's reason. lmdb-js rejects a failed commit with "Commit failed"
   * and the real error later on `commitError`, and leaves the batch's own commit promise without a handler: both
   * are handled here, or they would reach the process as unhandled rejections (logged as errors in scan code).
   */
  const writeFailed = async (error: unknown): Promise<never> => {
    db.committed.then(undefined, () => {});
    let reason = errorMessage(error);
    const detail = (error as { commitError?: Promise<unknown> } | null)?.commitError;
    if (detail) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(reason), 1000);
      });
      reason = await Promise.race([detail.then(() => reason, errorMessage), late]);
      clearTimeout(timer);
    }
    throw new EngineError('JOURNAL_UNAVAILABLE', `cannot write the journal ${path}: ${reason}`, { dir, path, reason });
  };
  /** Settles not written yet ([key, expiresAt]), and the promise their `settle` calls return. */
  let settles:
    | { entries: [string, number][]; written: Promise<void>; resolve: (written: Promise<void>) => void; timer: NodeJS.Timeout }
    | undefined;
  /** Issues the waiting settles now, so they join whatever this event loop turn commits. */
  const writeSettles = () => {
    if (!settles) return;
    const { entries, resolve, timer } = settles;
    settles = undefined;
    clearTimeout(timer);
    const now = Date.now();
    let writes: Promise<unknown>;
    try {
      writes = Promise.all(
        entries.flatMap(([k, until]) => [db.remove(PENDING + k), until > now ? db.put(ANSWERED + k, encode(k, until)) : undefined]),
      );
    } catch (error) {
      writes = Promise.reject(error);
    }
    // Awaited by every settle of the batch, so a failed commit is a rejection there, never an unhandled one.
    resolve(writes.then(() => {}, writeFailed));
  };
  let closing: Promise<void> | undefined;
  return {
    path,
    checkMs,
    async add(key, record) {
      writeSettles();
      await Promise.resolve()
        .then(() => db.put(PENDING + key, encode(key, record.expiresAt, record)))
        .catch(writeFailed);
    },
    settle(key, expiresAt) {
      if (!settles) {
        let resolve!: (written: Promise<void>) => void;
        const written = new Promise<void>((r) => (resolve = r));
        settles = { entries: [], written, resolve, timer: setTimeout(writeSettles, SETTLE_BATCH_MS) };
      }
      settles.entries.push([key, expiresAt]);
      return settles.written;
    },
    async recover(now = Date.now()) {
      const found: JournalRecovery = { pending: [], answered: [], dropped: [], damaged: [] };
      // The format before version 1 (lmdb-js's msgpack): read through a second handle, so an upgrade keeps them.
      let legacy: RootDatabase<unknown, string> | undefined;
      const stale: unknown[] = [];
      for (const { key, value } of db.getRange()) {
        const kind = typeof key === 'string' ? key.slice(0, 2) : '';
        if (kind !== PENDING && kind !== ANSWERED) {
          found.damaged.push({ key: shownKey(key), reason: 'unknown key' });
          stale.push(key);
          continue;
        }
        const bountyKey = (key as string).slice(2);
        legacy ??= value[0] === FORMAT ? undefined : open<unknown, string>({ path, compression: false, mapSize: LMDB_OPTIONS.mapSize });
        const read =
          (value[0] !== FORMAT && legacy && fromLegacy(legacy.get(key as string), kind === PENDING)) ||
          decode(bountyKey, value, kind === PENDING);
        if ('damage' in read) {
          found.damaged.push({ key: shownKey(bountyKey), reason: read.damage });
          stale.push(key);
        } else if (read.expiresAt <= now) {
          if (kind === PENDING) found.dropped.push(bountyKey);
          stale.push(key);
        } else if (read.record) found.pending.push([bountyKey, read.record]);
        else found.answered.push([bountyKey, read.expiresAt]);
      }
      await legacy?.close();
      if (stale.length > 0) {
        await db.transaction(() => {
          for (const k of stale) db.remove(k as string);
        });
      }
      found.pending.sort((a, b) => a[1].receivedAt - b[1].receivedAt);
      return found;
    },
    close() {
      writeSettles();
      closing ??= (async () => {
        try {
          await db.close();
          writeFileSync(cleanMark(path).file, cleanStamp(path));
        } finally {
          release();
        }
      })();
      return closing;
    },
  };
}
