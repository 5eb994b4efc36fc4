/**
 * Checks an existing journal file before this process maps it. LMDB reads through mmap, so a damaged file does not
 * fail, it kills (SIGBUS past a truncated end, SIGSEGV or SIGABRT on garbage): the whole file is read once in a
 * short-lived child process, whose death is the diagnosis; it also compares the records read with the header's
 * count (a lost page). Record checksums are checked later, by `recover`.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { errorMessage } from '../util/errors.js';
import { EngineError } from './errors.js';

/** Options both the check and the engine open the file with. */
export const LMDB_OPTIONS = { compression: false, encoding: 'binary', mapSize: 2 * 1024 ** 3 } as const;

const CHECK_TIMEOUT_MS = 120_000;

/** Reads every record; prints `{"read":n,"entries":m}`. argv: the lmdb module, the file, the options as JSON. */
const CHECK = `const [lmdb, path, options] = process.argv.slice(1);
const db = require(lmdb).open({ path, ...JSON.parse(options) });
let read = 0;
for (const { value } of db.getRange()) read += value.length >= 0 ? 1 : 0; // each value is copied out: every page is read
process.stdout.write(JSON.stringify({ read, entries: db.getStats().entryCount }));`;

/** The file is damaged: what is wrong and what to do about it. */
function damaged(path: string, reason: string): EngineError {
  return new EngineError(
    'JOURNAL_DAMAGED',
    `the journal ${path} is damaged: ${reason}. Its bounties cannot be trusted; move the file aside (it is kept for inspection) or start with a fresh state folder`,
    { path, reason },
  );
}

/** Throws JOURNAL_DAMAGED when the LMDB file at `path` cannot be read whole; returns the check's duration (ms). */
export function checkJournalFile(path: string, size: number): number {
  // LMDB takes an empty file for a new one: the records it held would be gone without a word.
  if (size === 0) throw damaged(path, 'the file is empty (0 bytes), although it existed');
  const started = performance.now();
  const lmdb = createRequire(import.meta.url).resolve('lmdb');
  const r = spawnSync(process.execPath, ['-e', CHECK, lmdb, path, JSON.stringify(LMDB_OPTIONS)], {
    encoding: 'utf8',
    timeout: CHECK_TIMEOUT_MS,
  });
  const ms = performance.now() - started;
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    throw damaged(path, `reading it did not finish within ${CHECK_TIMEOUT_MS / 1000} s`);
  }
  if (r.error) {
    throw new EngineError('JOURNAL_UNAVAILABLE', `cannot check the journal ${path}: ${errorMessage(r.error)}`, {
      path,
      reason: errorMessage(r.error),
    });
  }
  if (r.signal) throw damaged(path, `reading it crashed the checking process (${r.signal})`);
  if (r.status !== 0) {
    const last = r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr.trim().split('\n').pop() ?? '';
    throw damaged(path, `LMDB cannot read it (${last.replace(/^\w*Error: /, '').trim() || `exit ${r.status}`})`);
  }
  const { read, entries } = JSON.parse(r.stdout) as { read: number; entries: number };
  if (read !== entries) throw damaged(path, `its header counts ${entries} records, ${read} can be read`);
  return ms;
}
