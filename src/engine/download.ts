/**
 * Artifact download. Node's fetch has no size limit, 300 s timeouts and follows 20 redirects (docs/protocol.md §10), so
 * this uses undici's `request()` through the outbound Agent (http-agent.ts), follows at most 5 redirects by hand,
 * counts bytes while streaming, and takes the scan deadline's signal as the overall timeout, inside which a connect
 * and an idle timeout (defaults.ts) cut a host that stalls. URLs in messages lose their query (pre-signed URLs carry
 * credentials there).
 */
import { hash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Dispatcher } from 'undici';
import type { BountyData } from '../protocol/types.js';
import type { Abortable } from '../util/abort.js';
import { redactUrl } from '../util/logger.js';
import { readToEnd } from '../util/read-stream.js';
import { ARTIFACT_DIR_PREFIX, ARTIFACT_RUN, DEFAULTS } from './defaults.js';
import { isEgressRefused } from './egress.js';
import {
  defaultOutbound,
  destroyBody,
  discardBody,
  headerValue,
  networkMessage,
  type Outbound,
  requestPath,
  USER_AGENT,
} from './http-agent.js';
import { notify, type EngineObserver } from './observer.js';
import { ArtifactError } from './types.js';

export interface DownloadOptions {
  /** Bytes allowed (decoded); one more fails with `too-large`. */
  maxBytes: number;
  /** The scan deadline: aborting it fails the download with `timeout`. */
  signal: Abortable;
  /** 64 hex digits to check the bytes against (`hash-mismatch`), or null. */
  sha256?: string | null;
  /** Defaults 5 and DEFAULTS.downloadIdleTimeoutMs (the longest wait for the head or between body chunks). */
  maxRedirects?: number;
  idleTimeoutMs?: number;
  /** The Agent and egress policy (default: egress `any`); an engine passes its own. */
  outbound?: Outbound;
}

/** Undici's own timeouts: the idle timeout (head or body) and the connect timeout. */
const STALLED = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** A download failure as an ArtifactError: refused by the egress policy, stalled, or a network error. */
function failure(error: unknown, url: URL, what: string, idleMs: number): ArtifactError {
  const where = redactUrl(url.href);
  if (isEgressRefused(error)) {
    return new ArtifactError('egress-refused', `artifact download from ${where}: ${networkMessage(error)}`, { cause: error });
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && STALLED.has(code)) {
    const why =
      code === 'UND_ERR_CONNECT_TIMEOUT'
        ? `could not connect within ${DEFAULTS.outboundConnectTimeoutMs} ms`
        : `sent nothing for ${idleMs} ms`;
    return new ArtifactError('cannot-fetch', `artifact download from ${where} stalled: the host ${why}`, { cause: error });
  }
  return new ArtifactError('cannot-fetch', `artifact download from ${where} ${what}: ${networkMessage(error)}`, { cause: error });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

// No Accept-Encoding: artifacts are asked for as they are (a host that compresses anyway is decoded, see decoded()).
const REQUEST_HEADERS = { 'user-agent': USER_AGENT };

function httpUrl(value: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(value, base);
  } catch {
    throw new ArtifactError('cannot-fetch', `artifact URI is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ArtifactError('cannot-fetch', `artifact URI scheme ${url.protocol} is not http or https: ${redactUrl(url.href)}`);
  }
  // fetch refused these; undici.request would silently drop them, so keep refusing rather than change meaning.
  if (url.username !== '' || url.password !== '') {
    throw new ArtifactError('cannot-fetch', `artifact URI carries credentials: ${url.origin}${url.pathname}`);
  }
  return url;
}

/**
 * The body as the artifact's bytes: undici does not decode Content-Encoding (fetch did), so a host that compresses
 * anyway is decoded here, and the size cap then counts decoded bytes, which stops a decompression bomb.
 */
function decoded(body: Readable, contentEncoding: string | undefined, url: URL): Readable {
  if (contentEncoding === undefined || contentEncoding === '' || contentEncoding === 'identity') return body;
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return body;
  const decoders = codings.reverse().map((coding) => {
    if (coding === 'gzip' || coding === 'x-gzip') return createGunzip();
    if (coding === 'deflate') return createInflate();
    if (coding === 'br') return createBrotliDecompress();
    destroyBody(body);
    throw new ArtifactError('cannot-fetch', `artifact download from ${redactUrl(url.href)} has an unknown Content-Encoding: ${coding}`);
  });
  // pipeline destroys every stage when one fails or the reader stops early, the socket included.
  return pipeline([body, ...decoders], () => {}) as unknown as Readable;
}

/** What `for await` reported for a stream closed before its end without an error of its own. */
const prematureClose = () => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });

/** An artifact's body read to its end (util/read-stream.ts); on any failure the stream is destroyed, the socket with it. */
export function readAll(source: Readable, maxBytes: number): Promise<Buffer> {
  return readToEnd(source, maxBytes, {
    tooLarge: (total) => new ArtifactError('too-large', `artifact is over the ${maxBytes}-byte limit (stopped reading at ${total} bytes)`),
    closed: prematureClose,
  }).catch((error: unknown) => {
    // A stream cut short may still emit an error ("Request aborted"); unheard, it would crash the process.
    destroyBody(source);
    throw error;
  });
}

/**
 * Downloads an artifact into memory. Throws ArtifactError: `cannot-fetch` (bad URL or scheme, network error,
 * non-2xx status, too many redirects), `too-large`, `timeout` (the signal fired), `hash-mismatch`.
 */
export async function downloadArtifact(uri: string, options: DownloadOptions): Promise<Buffer> {
  const { maxBytes, signal } = options;
  const maxRedirects = options.maxRedirects ?? 5;
  const idleMs = options.idleTimeoutMs ?? DEFAULTS.downloadIdleTimeoutMs;
  const outbound = options.outbound ?? defaultOutbound();
  let url = httpUrl(uri);
  const timeout = () => new ArtifactError('timeout', `artifact download from ${redactUrl(url.href)} hit the scan deadline`);
  let response: Dispatcher.ResponseData;
  for (let hops = 0; ; hops++) {
    if (signal.aborted) throw timeout();
    try {
      if (outbound.check) await outbound.check(url);
      response = await outbound.dispatcher.request({
        origin: url.origin,
        path: requestPath(url),
        method: 'GET',
        headers: REQUEST_HEADERS,
        signal,
        headersTimeout: idleMs,
        bodyTimeout: idleMs,
      });
    } catch (error) {
      if (signal.aborted) throw timeout();
      throw failure(error, url, 'failed', idleMs);
    }
    const location = headerValue(response.headers, 'location');
    if (!REDIRECTS.has(response.statusCode) || location === undefined) break;
    await discardBody(response.body);
    if (hops >= maxRedirects) {
      throw new ArtifactError('cannot-fetch', `artifact download from ${redactUrl(uri)} followed more than ${maxRedirects} redirects`);
    }
    url = httpUrl(location, url);
  }
  const { statusCode, headers, body } = response;
  if (statusCode < 200 || statusCode > 299) {
    await discardBody(body);
    throw new ArtifactError('cannot-fetch', `artifact download from ${redactUrl(url.href)} answered HTTP ${statusCode}`);
  }
  const declared = Number(headerValue(headers, 'content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    destroyBody(body);
    throw new ArtifactError('too-large', `artifact is ${declared} bytes, over the ${maxBytes}-byte limit`);
  }
  let data: Buffer;
  try {
    data = await readAll(decoded(body, headerValue(headers, 'content-encoding'), url), maxBytes);
  } catch (error) {
    if (error instanceof ArtifactError) throw error;
    if (signal.aborted) throw timeout();
    throw failure(error, url, 'broke off', idleMs);
  }
  // Only hashed when there is something to check it against; in one call (a Hash object per artifact cost 3× more).
  const actual = options.sha256 ? hash('sha256', data) : undefined;
  if (actual !== undefined && actual !== options.sha256!.toLowerCase()) {
    throw new ArtifactError('hash-mismatch', `artifact sha256 is ${actual}, the bounty says ${options.sha256}`);
  }
  return data;
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
  options: Omit<DownloadOptions, 'sha256'> & { observer?: EngineObserver },
): ArtifactAccess {
  const observer = options.observer;
  let bytes: Promise<Buffer> | undefined;
  let dir: Promise<string> | undefined;
  let file: Promise<string> | undefined;
  let cleaned = false;
  const getBytes = () => {
    bytes ??=
      bounty.artifact_type === 'file'
        ? observed(downloadArtifact(bounty.artifact_uri, Object.assign({}, options, { sha256: bounty.sha256 })), bounty, observer)
        : Promise.reject(new ArtifactError('unsupported', 'a URL artifact has no file to download; scan bounty.artifact_uri instead'));
    return bytes;
  };
  return {
    bytes: getBytes,
    path: () => {
      file ??= (async () => {
        const data = await getBytes();
        // A scan still running after its answer was sent must not leave a file behind that nobody removes.
        if (cleaned) throw new ArtifactError('timeout', 'the scan is over; its artifact file was removed');
        dir ??= mkdtemp(join(tmpdir(), `${ARTIFACT_DIR_PREFIX}${ARTIFACT_RUN}-`));
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

/** Tells `observer` (the inspector, the recorder) how a download ended; the promise itself is returned unchanged. */
function observed(
  download: Promise<Buffer>,
  bounty: Pick<BountyData, 'artifact_uri' | 'sha256' | 'id'>,
  observer: EngineObserver | undefined,
): Promise<Buffer> {
  if (!observer?.onDownload) return download;
  const started = performance.now();
  const base = { bounty: bounty.id, url: redactUrl(bounty.artifact_uri), sha256: bounty.sha256 ?? null };
  const ms = () => Math.round(performance.now() - started);
  download.then(
    (data) =>
      notify(observer, 'onDownload', {
        ...base,
        ok: true,
        bytes: data.byteLength,
        ms: ms(),
        sha256Ok: bounty.sha256 ? true : null,
        ...(observer.wantsBodies ? { data } : {}),
      }),
    (error: unknown) => {
      const reason = error instanceof ArtifactError ? error.reason : undefined;
      notify(observer, 'onDownload', {
        ...base,
        ok: false,
        bytes: 0,
        ms: ms(),
        sha256Ok: reason === 'hash-mismatch' ? false : null,
        reason,
        error: (error as Error)?.message ?? String(error),
      });
    },
  );
  return download;
}
