/**
 * Running ClamAV as a subprocess: `clamscan` (loads the signatures on every call: simple, slower), or
 * `clamdscan` when a clamd daemon is configured (signatures stay loaded: use it in production).
 *
 * Settings (environment, or .env):
 * - CLAMSCAN_PATH      the clamscan binary (default: `clamscan` on PATH)
 * - CLAMAV_DATABASE    a signature file or folder, passed as `--database` (default: ClamAV's own, e.g. /var/lib/clamav)
 * - CLAMD_CONF         a clamd.conf: scan with clamdscan through that daemon
 * - CLAMD_SOCKET       a clamd socket path, or host:port for TCP: scan with clamdscan through it
 * - CLAMDSCAN_PATH     the clamdscan binary (default: `clamdscan` on PATH)
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
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

interface Command {
  file: string;
  args: string[];
}

let clamdConfig: Promise<string> | undefined;

/** A clamd.conf that only names the socket, for clamdscan (which has no socket flag of its own). */
function configForSocket(socket: string): Promise<string> {
  clamdConfig ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clamdscan-'));
    const tcp = /^(?:tcp:\/\/)?([^/:]+):(\d+)$/.exec(socket);
    const text = tcp ? `TCPSocket ${tcp[2]}\nTCPAddr ${tcp[1]}\n` : `LocalSocket ${socket}\n`;
    const file = join(dir, 'clamd.conf');
    await writeFile(file, text);
    return file;
  })();
  return clamdConfig;
}

/** The scanner command line for the current settings (read at every call, so `.env` edits apply on reload). */
async function scanner(env: NodeJS.ProcessEnv = process.env): Promise<Command> {
  if (env.CLAMD_CONF || env.CLAMD_SOCKET) {
    const config = env.CLAMD_CONF || (await configForSocket(env.CLAMD_SOCKET!));
    // A local socket gets the open file (--fdpass: clamd needs no access to our temporary folder);
    // over TCP, or with a config we did not write, the bytes are streamed (--stream), which always works.
    const local = !env.CLAMD_CONF && !/:\d+$/.test(env.CLAMD_SOCKET!);
    return {
      file: env.CLAMDSCAN_PATH || 'clamdscan',
      args: ['--no-summary', local ? '--fdpass' : '--stream', `--config-file=${config}`],
    };
  }
  const args = ['--no-summary'];
  if (env.CLAMAV_DATABASE) args.push(`--database=${env.CLAMAV_DATABASE}`);
  return { file: env.CLAMSCAN_PATH || 'clamscan', args };
}

/**
 * Scans one file. ClamAV's exit codes: 0 clean, 1 a signature matched (`<path>: <Signature> FOUND`),
 * 2 an error (no database, unreadable file, …). `signal` aborts the scan (the bounty's deadline).
 */
export async function scanFile(path: string, signal: AbortSignal, env: NodeJS.ProcessEnv = process.env): Promise<ClamOutcome> {
  const { file, args } = await scanner(env);
  const result = await execa(file, [...args, path], {
    reject: false,
    cancelSignal: signal,
    forceKillAfterDelay: 1000,
    stdin: 'ignore',
  });
  if (result.isCanceled) return { status: 'timeout' };
  if (result.exitCode === 0) return { status: 'clean' };
  if (result.exitCode === 1) {
    for (const line of result.stdout.split('\n')) {
      const match = /^(.*): (.+) FOUND$/.exec(line.trim());
      if (match && match[1].endsWith(path)) return { status: 'found', signature: match[2] };
    }
    return { status: 'error', message: `${file} reported a detection it did not name: ${result.stdout.trim().slice(0, 200)}` };
  }
  // ClamAV's stderr reads "LibClamAV Error: <cause>" then "ERROR: <symptom>": keep both, without the prefixes.
  const why = (result.stderr || result.stdout || result.shortMessage || '')
    .split('\n')
    .map((line) => line.replace(/^(LibClamAV )?(Error|ERROR|WARNING):\s*/, '').trim())
    .filter(Boolean)
    .join('; ');
  return { status: 'error', message: why || `${file} exited with code ${result.exitCode}` };
}

/** Parses `clamscan --version`: `ClamAV 1.0.7/27100/Tue Nov 28 09:25:46 2023`, or `ClamAV 1.4.6` without a daily database. */
export function parseVersion(text: string): ClamVersion {
  const match = /ClamAV\s+([^\s/]+)(?:\/(\d+))?/.exec(text);
  return { engine: match?.[1] ?? null, signatures: match?.[2] ?? null };
}

let cachedVersion: Promise<ClamVersion> | undefined;

/** The ClamAV and signature versions (asked once per process; null fields when ClamAV cannot tell). */
export function clamVersion(env: NodeJS.ProcessEnv = process.env): Promise<ClamVersion> {
  cachedVersion ??= (async () => {
    const { file, args } = await scanner(env);
    const versionArgs = args.filter((a) => a.startsWith('--database=') || a.startsWith('--config-file='));
    const result = await execa(file, ['--version', ...versionArgs], { reject: false, stdin: 'ignore', timeout: 10_000 });
    return parseVersion(result.stdout);
  })();
  return cachedVersion;
}
