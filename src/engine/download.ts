/**
 * Artifact download. Node's fetch has no size limit, 300 s timeouts and follows 20 redirects (decisions.md), so
 * redirects are followed by hand (at most 5), bytes are counted while streaming, and the scan deadline's signal
 * is the one overall timeout.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BountyData } from '../protocol/types.js';
import { errorMessage } from '../util/errors.js';
import { ArtifactError } from './types.js';

export interface DownloadOptions {
  /** Bytes allowed (decoded); one more fails with `too-large`. */
  maxBytes: number;
  /** The scan deadline: aborting it fails the download with `timeout`. */
  signal: AbortSignal;
  /** 64 lowercase hex digits to check the bytes against (`hash-mismatch`), or null. */
  sha256?: string | null;
  /** Redirect hops allowed (default 5). */
  maxRedirects?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function httpUrl(value: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(value, base);
  } catch {
    throw new ArtifactError('cannot-fetch', `artifact URI is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ArtifactError('cannot-fetch', `artifact URI scheme ${url.protocol} is not http or https: ${url.href}`);
  }
  return url;
}

/**
 * Downloads an artifact into memory. Throws ArtifactError: `cannot-fetch` (bad URL or scheme, network error,
 * non-2xx status, too many redirects), `too-large`, `timeout` (the signal fired), `hash-mismatch`.
 */
export async function downloadArtifact(uri: string, options: DownloadOptions): Promise<Buffer> {
  const { maxBytes, signal } = options;
  const maxRedirects = options.maxRedirects ?? 5;
  let url = httpUrl(uri);
  const timeout = () => new ArtifactError('timeout', `artifact download from ${url.href} hit the scan deadline`);
  let response: Response;
  for (let hops = 0; ; hops++) {
    if (signal.aborted) throw timeout();
    try {
      response = await fetch(url, { redirect: 'manual', signal });
    } catch (error) {
      if (signal.aborted) throw timeout();
      throw new ArtifactError('cannot-fetch', `artifact download from ${url.href} failed: ${causeMessage(error)}`, {
        cause: error,
      });
    }
    const location = response.headers.get('location');
    if (!REDIRECTS.has(response.status) || location === null) break;
    await response.body?.cancel().catch(() => {});
    if (hops >= maxRedirects) {
      throw new ArtifactError('cannot-fetch', `artifact download from ${uri} followed more than ${maxRedirects} redirects`);
    }
    url = httpUrl(location, url);
  }
  if (response.status < 200 || response.status > 299) {
    await response.body?.cancel().catch(() => {});
    throw new ArtifactError('cannot-fetch', `artifact download from ${url.href} answered HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new ArtifactError('too-large', `artifact is ${declared} bytes, over the ${maxBytes}-byte limit`);
  }
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let total = 0;
  if (response.body) {
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > maxBytes) {
          await reader.cancel().catch(() => {});
          throw new ArtifactError('too-large', `artifact is over the ${maxBytes}-byte limit (stopped reading at ${total} bytes)`);
        }
        hash.update(value);
        chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
      }
    } catch (error) {
      if (error instanceof ArtifactError) throw error;
      if (signal.aborted) throw timeout();
      throw new ArtifactError('cannot-fetch', `artifact download from ${url.href} broke off: ${causeMessage(error)}`, {
        cause: error,
      });
    }
  }
  if (options.sha256) {
    const actual = hash.digest('hex');
    if (actual !== options.sha256.toLowerCase()) {
      throw new ArtifactError('hash-mismatch', `artifact sha256 is ${actual}, the bounty says ${options.sha256}`);
    }
  }
  return Buffer.concat(chunks, total);
}

/** fetch wraps network failures in "fetch failed"; the cause says what happened (ECONNREFUSED, …). */
function causeMessage(error: unknown): string {
  const cause = (error as { cause?: unknown })?.cause;
  const code = (cause as { code?: unknown })?.code;
  const inner = cause === undefined ? '' : `: ${typeof code === 'string' ? code : errorMessage(cause)}`;
  return `${errorMessage(error)}${inner}`;
}

/** Lazy, cached access to one bounty's artifact, as `Bounty.fetchArtifact` / `Bounty.artifactPath`. */
export interface ArtifactAccess {
  bytes(): Promise<Buffer>;
  path(): Promise<string>;
  /** Removes the temporary file, if one was written. Never throws. */
  cleanup(): Promise<void>;
}

/**
 * Creates the lazy artifact accessors of a bounty. Nothing is downloaded until `bytes()` or `path()` is called,
 * and then only once. A URL artifact has nothing to download (scan `artifact_uri` itself): `unsupported`.
 */
export function createArtifactAccess(
  bounty: Pick<BountyData, 'artifact_type' | 'artifact_uri' | 'sha256' | 'id'>,
  options: Omit<DownloadOptions, 'sha256'>,
): ArtifactAccess {
  let bytes: Promise<Buffer> | undefined;
  let dir: Promise<string> | undefined;
  let file: Promise<string> | undefined;
  let cleaned = false;
  const getBytes = () => {
    bytes ??=
      bounty.artifact_type === 'file'
        ? downloadArtifact(bounty.artifact_uri, { ...options, sha256: bounty.sha256 })
        : Promise.reject(
            new ArtifactError('unsupported', 'a URL artifact has no file to download; scan bounty.artifact_uri instead'),
          );
    return bytes;
  };
  return {
    bytes: getBytes,
    path: () => {
      file ??= (async () => {
        const data = await getBytes();
        // A scan still running after its answer was sent must not leave a file behind that nobody removes.
        if (cleaned) throw new ArtifactError('timeout', 'the scan is over; its artifact file was removed');
        dir ??= mkdtemp(join(tmpdir(), 'polyswarm-artifact-'));
        const path = join(await dir, 'artifact');
        await writeFile(path, data, { mode: 0o600 });
        return path;
      })();
      return file;
    },
    cleanup: async () => {
      cleaned = true;
      if (file) await file.catch(() => undefined);
      if (!dir) return;
      const d = await dir.catch(() => undefined);
      if (d) await rm(d, { recursive: true, force: true }).catch(() => {});
    },
  };
}
