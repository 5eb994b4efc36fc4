/**
 * Scanning with ClamAV, two ways:
 * - through a clamd daemon (production): the file's bytes are streamed to clamd over its socket (INSTREAM), from
 *   Node, with no extra binary. clamd keeps the signatures loaded, so a scan takes milliseconds.
 * - with `clamscan` (a first try): it loads every signature on each scan (seconds and hundreds of MB with the
 *   official database), so at most CLAMSCAN_CONCURRENCY of them run at once.
 * clamd is used when CLAMD_SOCKET or CLAMD_CONF says where it is, or when a local clamd socket exists at the
 * Debian/Ubuntu default (/run/clamav/clamd.ctl); otherwise clamscan.
 *
 * Settings (environment, or .env; read at every scan, so `.env` edits apply while `serve` runs):
 * - CLAMD_SOCKET        a clamd socket path, or host:port for TCP
 * - CLAMD_CONF          a clamd.conf: its LocalSocket, or TCPAddr/TCPSocket
 * - CLAMSCAN_PATH       the clamscan binary (default: `clamscan` on PATH)
 * - CLAMAV_DATABASE     a signature file or folder for clamscan, passed as `--database` (default: ClamAV's own)
 * - CLAMSCAN_CONCURRENCY  clamscan processes at once (default 1: each one holds the whole database in memory)
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export type ClamOutcome =
  | { status: 'found'; signature: string }
  | { status: 'clean' }
  | { status: 'error'; message: string }
  | { status: 'timeout' };

export interface ClamVersion {
  /** The ClamAV engine version, e.g. `1.4.6`. */
  engine: string | null;
  /** The daily signature database version, e.g. `27100` (null when only custom signatures are loaded). */
  signatures: string | null;
}

/** Where clamd listens: a unix socket path, or a TCP host and port. */
export type ClamdAddress = { path: string } | { host: string; port: number };

/** The clamd socket Debian/Ubuntu's clamav-daemon package creates. */
export const DEFAULT_CLAMD_SOCKET = '/run/clamav/clamd.ctl';

/** `/run/clamav/clamd.ctl`, `clamd:3310`, `tcp://127.0.0.1:3310`. */
export function parseClamdSocket(text: string): ClamdAddress {
  const tcp = /^(?:tcp:\/\/)?([^/:]+):(\d+)$/.exec(text.trim());
  return tcp ? { host: tcp[1], port: Number(tcp[2]) } : { path: text.trim() };
}

/** The socket a clamd.conf names (LocalSocket wins over TCPSocket, as clamdscan does). */
export function clamdAddressFromConf(text: string): ClamdAddress | null {
  const setting = (name: string) => new RegExp(`^\\s*${name}\\s+(\\S+)`, 'm').exec(text)?.[1];
  const local = setting('LocalSocket');
  if (local) return { path: local };
  const port = setting('TCPSocket');
  return port ? { host: setting('TCPAddr') ?? '127.0.0.1', port: Number(port) } : null;
}

/** The clamd to scan through with the current settings, or null for clamscan. */
export function clamdAddress(env: NodeJS.ProcessEnv = process.env): ClamdAddress | null {
  if (env.CLAMD_SOCKET) return parseClamdSocket(env.CLAMD_SOCKET);
  if (env.CLAMD_CONF) {
    const address = clamdAddressFromConf(readFileSync(env.CLAMD_CONF, 'utf8'));
    if (!address) throw new Error(`${env.CLAMD_CONF} names no LocalSocket or TCPSocket`);
    return address;
  }
  if (!env.CLAMSCAN_PATH && !env.CLAMAV_DATABASE && existsSync(DEFAULT_CLAMD_SOCKET)) return { path: DEFAULT_CLAMD_SOCKET };
  return null;
}

function where(address: ClamdAddress): string {
  return 'path' in address ? address.path : `${address.host}:${address.port}`;
}

/** What to do about a ClamAV error, appended to its message where the user looks (logs and the answer). */
export function withHint(message: string): string {
  if (/No supported database files found|cl_load\(\)|cli_loaddbdir/i.test(message)) {
    return `${message} (no signatures: run \`sudo freshclam\`, or offline set CLAMAV_DATABASE as README.md, "Signatures, offline", shows)`;
  }
  if (/ENOENT/.test(message) && /clamscan/.test(message)) return `${message} (install ClamAV: apt-get install clamav)`;
  if (/ECONNREFUSED|ENOENT/.test(message)) return `${message} (is clamd running? It starts only once it has signatures)`;
  return message;
}

// ---------------------------------------------------------------------------------------------------------------
// clamd, over its socket (https://docs.clamav.net/manual/Usage/Scanning.html#clamd: the z-prefixed commands end
// in a NUL byte; INSTREAM takes chunks, each with a 4-byte big-endian length, and a zero-length chunk to end).

/** Sends one command (and optionally a file's bytes) and returns clamd's reply without its trailing NUL. */
function clamdRequest(address: ClamdAddress, command: string, signal: AbortSignal, file?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const socket: Socket = connect(address);
    const chunks: Buffer[] = [];
    const onAbort = () => socket.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    });
    socket.on('close', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(Buffer.concat(chunks).toString('utf8').replace(/\0$/, '').trim());
    });
    socket.on('connect', async () => {
      try {
        socket.write(`z${command}\0`);
        if (file !== undefined) {
          const handle = await open(file);
          try {
            const buffer = Buffer.alloc(64 * 1024);
            for (;;) {
              const { bytesRead } = await handle.read(buffer, 0, buffer.length);
              if (bytesRead === 0) break;
              const length = Buffer.alloc(4);
              length.writeUInt32BE(bytesRead);
              if (!socket.write(Buffer.concat([length, buffer.subarray(0, bytesRead)]))) {
                await new Promise((r) => socket.once('drain', r));
              }
            }
          } finally {
            await handle.close();
          }
          socket.write(Buffer.alloc(4));
        }
      } catch (error) {
        socket.destroy(error as Error);
      }
    });
  });
}

/** clamd's INSTREAM reply: `stream: OK`, `stream: <Signature> FOUND`, or `<cause> ERROR`. */
export function parseClamdReply(reply: string): ClamOutcome {
  const found = /^stream: (.+) FOUND$/.exec(reply);
  if (found) return { status: 'found', signature: found[1] };
  if (reply === 'stream: OK') return { status: 'clean' };
  return { status: 'error', message: `clamd: ${reply.replace(/ ERROR$/, '') || 'closed the connection without an answer'}` };
}

async function scanWithClamd(address: ClamdAddress, path: string, signal: AbortSignal): Promise<ClamOutcome> {
  try {
    return parseClamdReply(await clamdRequest(address, 'INSTREAM', signal, path));
  } catch (error) {
    if (signal.aborted) return { status: 'timeout' };
    return { status: 'error', message: withHint(`clamd at ${where(address)}: ${(error as Error).message}`) };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// clamscan, as a subprocess, a few at a time.

let running = 0;
const waiting: (() => void)[] = [];

/** Waits for a clamscan slot (CLAMSCAN_CONCURRENCY, default 1); false if `signal` fires first. */
async function acquire(limit: number, signal: AbortSignal): Promise<boolean> {
  while (running >= limit) {
    if (signal.aborted) return false;
    await new Promise<void>((resolve) => {
      const wake = () => {
        signal.removeEventListener('abort', wake);
        const at = waiting.indexOf(wake);
        if (at >= 0) waiting.splice(at, 1);
        resolve();
      };
      waiting.push(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }
  if (signal.aborted) return false;
  running++;
  return true;
}

function release(): void {
  running--;
  waiting.shift()?.();
}

function clamscanCommand(env: NodeJS.ProcessEnv): { file: string; args: string[] } {
  const args = ['--no-summary'];
  if (env.CLAMAV_DATABASE) args.push(`--database=${env.CLAMAV_DATABASE}`);
  return { file: env.CLAMSCAN_PATH || 'clamscan', args };
}

/** ClamAV's stderr reads "LibClamAV Error: <cause>" then "ERROR: <symptom>": keep both, without the prefixes. */
function clamscanError(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/^(LibClamAV )?(Error|ERROR|WARNING):\s*/, '').trim())
    .filter(Boolean)
    .join('; ');
}

async function scanWithClamscan(path: string, signal: AbortSignal, env: NodeJS.ProcessEnv): Promise<ClamOutcome> {
  const limit = Math.max(1, Number(env.CLAMSCAN_CONCURRENCY) || 1);
  if (!(await acquire(limit, signal))) return { status: 'timeout' };
  try {
    const { file, args } = clamscanCommand(env);
    const result = await execa(file, [...args, path], { reject: false, cancelSignal: signal, forceKillAfterDelay: 1000, stdin: 'ignore' });
    if (result.isCanceled) return { status: 'timeout' };
    // Exit codes: 0 clean, 1 a signature matched (`<path>: <Signature> FOUND`), 2 an error.
    if (result.exitCode === 0) return { status: 'clean' };
    if (result.exitCode === 1) {
      for (const line of result.stdout.split('\n')) {
        const match = /^(.*): (.+) FOUND$/.exec(line.trim());
        if (match?.[1].endsWith(path)) return { status: 'found', signature: match[2] };
      }
      return { status: 'error', message: `${file} reported a detection it did not name: ${result.stdout.trim().slice(0, 200)}` };
    }
    const why = clamscanError(result.stderr || result.stdout || '') || result.shortMessage || `${file} exited with code ${result.exitCode}`;
    return { status: 'error', message: withHint(why) };
  } finally {
    release();
  }
}

/** Scans one file, through clamd when one is configured (see the top of this file), else with clamscan. */
export async function scanFile(path: string, signal: AbortSignal, env: NodeJS.ProcessEnv = process.env): Promise<ClamOutcome> {
  let address: ClamdAddress | null;
  try {
    address = clamdAddress(env);
  } catch (error) {
    return { status: 'error', message: (error as Error).message };
  }
  return address ? scanWithClamd(address, path, signal) : scanWithClamscan(path, signal, env);
}

// ---------------------------------------------------------------------------------------------------------------
// Versions, for metadata.scanner.

/** Parses `ClamAV 1.0.7/27100/Tue Nov 28 09:25:46 2023` (clamscan --version, clamd VERSION), or `ClamAV 1.4.6`. */
export function parseVersion(text: string): ClamVersion {
  const match = /ClamAV\s+([^\s/]+)(?:\/(\d+))?/.exec(text);
  return { engine: match?.[1] ?? null, signatures: match?.[2] ?? null };
}

/** How long a version answer is reused: signatures update a few times a day, so a minute is fresh enough. */
const VERSION_TTL_MS = 60_000;
let cachedVersion: { key: string; at: number; value: Promise<ClamVersion> } | undefined;

/** The ClamAV and signature versions (re-asked after a minute or when the settings change; null fields when unknown). */
export function clamVersion(env: NodeJS.ProcessEnv = process.env): Promise<ClamVersion> {
  const key = JSON.stringify([env.CLAMD_SOCKET, env.CLAMD_CONF, env.CLAMSCAN_PATH, env.CLAMAV_DATABASE]);
  if (cachedVersion && cachedVersion.key === key && Date.now() - cachedVersion.at < VERSION_TTL_MS) return cachedVersion.value;
  const value = (async () => {
    try {
      const address = clamdAddress(env);
      if (address) return parseVersion(await clamdRequest(address, 'VERSION', AbortSignal.timeout(5_000)));
      const { file, args } = clamscanCommand(env);
      const result = await execa(file, ['--version', ...args.filter((a) => a.startsWith('--database='))], {
        reject: false,
        stdin: 'ignore',
        timeout: 10_000,
      });
      return parseVersion(result.stdout);
    } catch {
      return { engine: null, signatures: null };
    }
  })();
  cachedVersion = { key, at: Date.now(), value };
  return value;
}

/**
 * Why ClamAV cannot scan right now (no signatures, no clamscan, clamd unreachable), or null when it can: scans
 * a few harmless bytes the way real scans go. `src/scan.ts` runs it when the engine starts and logs the answer.
 */
export async function clamavProblem(env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  const dir = await mkdtemp(join(tmpdir(), 'clamav-probe-'));
  try {
    const file = join(dir, 'probe.txt');
    await writeFile(file, 'polyswarm-engine clamav probe\n');
    const outcome = await scanFile(file, AbortSignal.timeout(60_000), env);
    if (outcome.status === 'error') return outcome.message;
    if (outcome.status === 'timeout') return 'ClamAV took over a minute to scan a few bytes';
    return null;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
