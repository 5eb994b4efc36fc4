import { createReadStream } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import { UsageError } from '../util/errors.js';

/** One POST that reached the answer receiver, exactly as received. */
export interface ReceivedAnswer {
  /** Date.now() when the body was complete. */
  at: number;
  bytes: Buffer;
  contentType: string | undefined;
}

/** A file the host serves to the engine under test: its bytes, or a file on disk read when it is fetched. */
export type HostedFile = { bytes: Uint8Array; mimetype: string } | { path: string; size: number; mimetype: string };

/**
 * An artifact host that fails on purpose: answers 404 or 500, resets the connection (TCP RST), or accepts the
 * request and never answers (until the run ends).
 */
export type ArtifactFault = 404 | 500 | 'reset' | 'hang';

/** Called with each answer posted to a response_url made by `answerUrl(listener)`, which keeps no bodies. */
export type AnswerListener = (answer: ReceivedAnswer) => void;

const MAX_ANSWER_BYTES = 1024 * 1024;

/** Loopback: the simulator binds nothing else unless asked to. */
export const DEFAULT_LISTEN_HOST = '127.0.0.1';

/** Where the simulator's host listens, and what it tells the engine to connect to. */
export interface CallbackAddress {
  /** Interface to bind (`--listen-host`); default 127.0.0.1. */
  listenHost?: string;
  /** Host put into artifact_uri and response_url (`--advertise-host`); default the listen host, or 127.0.0.1 for 0.0.0.0/::. */
  advertiseHost?: string;
  /** Port to bind (`--callback-port`); default 0, a free port. */
  port?: number;
}

/** A CallbackAddress checked and with its defaults filled in. */
export type ResolvedCallbackAddress = Required<CallbackAddress>;

// A DNS name (docker-compose service names may carry underscores, which URLs accept).
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || (isIP(address) === 6 && /^[0:]+$/.test(address));
}

/** `[::1]` → `::1`: people paste IPv6 addresses as they appear in URLs. */
function unbracket(host: string): string {
  const trimmed = host.trim();
  return trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
}

/** The host part of a URL: IPv6 literals bracketed. */
export function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/**
 * Checks the callback options and fills in their defaults: loopback, a free port, and as advertised host the listen
 * host itself (127.0.0.1 when listening on every interface, since 0.0.0.0 is not an address to connect to).
 * Throws UsageError naming the flag for a value that cannot work.
 */
export function resolveCallbackAddress(options: CallbackAddress = {}): ResolvedCallbackAddress {
  const listenHost = unbracket(options.listenHost ?? DEFAULT_LISTEN_HOST);
  if (isIP(listenHost) === 0 && !HOST_NAME.test(listenHost)) {
    throw new UsageError(`--listen-host ${JSON.stringify(options.listenHost)}: expected an interface address or host name`, {
      hint: 'For example --listen-host 0.0.0.0 (every IPv4 interface), :: (every interface) or 172.17.0.1 (the docker bridge).',
    });
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--callback-port must be a whole number between 0 and 65535, got ${String(options.port)}`);
  }
  const advertiseHost =
    options.advertiseHost === undefined ? (isUnspecified(listenHost) ? DEFAULT_LISTEN_HOST : listenHost) : unbracket(options.advertiseHost);
  if (options.advertiseHost !== undefined) {
    const given = JSON.stringify(options.advertiseHost);
    const family = isIP(advertiseHost);
    if (family === 0 && /^[^:/]+:\d*$/.test(advertiseHost)) {
      throw new UsageError(`--advertise-host ${given}: a host only, without a port`, { hint: 'Set the port with --callback-port.' });
    }
    if (family === 0 && (!HOST_NAME.test(advertiseHost) || !URL.canParse(`http://${advertiseHost}/`))) {
      throw new UsageError(
        `--advertise-host ${given}: expected a host name or an IP address the engine can reach, e.g. host.docker.internal or 172.17.0.1`,
      );
    }
    if (isUnspecified(advertiseHost)) {
      throw new UsageError(`--advertise-host ${given}: that means "every interface", which nothing can connect to`, {
        hint: 'Advertise an address of this machine that the engine can reach, e.g. host.docker.internal or 172.17.0.1.',
      });
    }
    // Zone ids (fe80::1%eth0) cannot be written in a URL.
    if (family === 6 && advertiseHost.includes('%')) {
      throw new UsageError(`--advertise-host ${given}: an IPv6 address with a zone id cannot be put in a URL`, {
        hint: 'Advertise a global or unique-local address, or a host name.',
      });
    }
  }
  return { listenHost, advertiseHost, port };
}

/** What the inspector adds to the simulator's host. */
export interface HostOptions {
  /** Serves `/artifacts/<token>` for tokens not hosted with `host()` (the inspector's artifact store, by sha256). */
  artifacts?: (token: string) => HostedFile | undefined;
  /** Acknowledges answers at any `/answers/<token>`, registered or not, and keeps none (the inspector reads answers from the engine). */
  anyAnswer?: boolean;
}

/**
 * The simulator's own server, on loopback unless asked otherwise: it plays PolySwarm's side, serving artifacts
 * (`/artifacts/<token>`) and receiving answers (`/answers/<token>`), so a test run needs nothing on the internet.
 * An engine in a container cannot reach this machine's 127.0.0.1, hence the listen/advertise pair of
 * CallbackAddress. Each bounty gets its own answer token, so concurrent cases never see each other's answers.
 */
export class SimulatorHost {
  private readonly address: ResolvedCallbackAddress;
  private readonly options: HostOptions;
  private readonly server: Server;
  private readonly files = new Map<string, HostedFile | { fault: ArtifactFault }>();
  private readonly answers = new Map<string, ReceivedAnswer[] | AnswerListener>();
  private readonly downloads = new Map<string, number>();
  /** The base URL the engine is told to use, e.g. `http://127.0.0.1:41234` (after start). */
  baseUrl = '';
  /** Where the host listens, e.g. `0.0.0.0:41234` (after start). */
  listenAddress = '';

  /** `address` is checked here (UsageError); the defaults bind 127.0.0.1 on a free port. */
  constructor(address: CallbackAddress = {}, options: HostOptions = {}) {
    this.address = resolveCallbackAddress(address);
    this.options = options;
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const [, area, token] = path.split('/');
      const file = area === 'artifacts' && token ? (this.files.get(token) ?? this.options.artifacts?.(token)) : undefined;
      if (req.method === 'GET' && file) {
        this.downloads.set(token!, (this.downloads.get(token!) ?? 0) + 1);
        serveArtifact(file, req.socket, res);
        return;
      }
      if (req.method === 'POST' && area === 'answers' && token && (this.answers.has(token) || this.options.anyAnswer)) {
        const chunks: Buffer[] = [];
        let size = 0;
        req.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
        });
        req.on('end', () => {
          const answer = { at: Date.now(), bytes: Buffer.concat(chunks), contentType: req.headers['content-type'] };
          const sink = this.answers.get(token);
          if (typeof sink === 'function') sink(answer);
          else sink?.push(answer);
          // What PolySwarm's integration receiver answers.
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end('"OK"');
        });
        return;
      }
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"error":"not found"}');
    });
  }

  /** Binds the listen host and port (127.0.0.1 and a free port by default). A bind that fails is a UsageError. */
  async start(): Promise<void> {
    const { listenHost, advertiseHost, port } = this.address;
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(port, listenHost, () => resolve());
      });
    } catch (error) {
      throw bindError(error as NodeJS.ErrnoException, listenHost, port);
    }
    const bound = (this.server.address() as AddressInfo).port;
    // Through URL, so the base compares equal to a parsed artifact_uri (lower case, compressed IPv6, no :80).
    this.baseUrl = new URL(`http://${urlHost(advertiseHost)}:${bound}`).origin;
    this.listenAddress = `${urlHost(listenHost)}:${bound}`;
  }

  /** Whether the callbacks use the defaults: loopback 127.0.0.1 on a free port, reachable from this machine only. */
  get isDefault(): boolean {
    const { listenHost, advertiseHost, port } = this.address;
    return listenHost === DEFAULT_LISTEN_HOST && advertiseHost === DEFAULT_LISTEN_HOST && port === 0;
  }

  host(file: HostedFile | { fault: ArtifactFault }, suffix = ''): string {
    const token = randomUUID();
    this.files.set(token, file);
    return `${this.baseUrl}/artifacts/${token}${suffix}`;
  }

  /** An artifact URL that fails the way `fault` says (downloads are still counted). */
  hostFault(fault: ArtifactFault): string {
    return this.host({ fault });
  }

  /** Stops serving the artifact at `url` and forgets its download count (long runs keep memory flat). */
  unhost(url: string): void {
    const token = tokenOf(url);
    this.files.delete(token);
    this.downloads.delete(token);
  }

  isHosted(url: string): boolean {
    try {
      const parsed = new URL(url);
      return parsed.origin === this.baseUrl && this.files.has(parsed.pathname.split('/')[2] ?? '');
    } catch {
      return false;
    }
  }

  downloadCount(url: string): number {
    return this.downloads.get(tokenOf(url)) ?? 0;
  }

  /**
   * A fresh response_url whose answers are collected apart from every other one; with a `listener`, each answer is
   * handed to it and not kept (load and corpus runs).
   */
  answerUrl(listener?: AnswerListener): string {
    const token = randomUUID();
    this.answers.set(token, listener ?? []);
    return `${this.baseUrl}/answers/${token}`;
  }

  /** Stops receiving at `url`: a later answer gets 404. */
  releaseAnswerUrl(url: string): void {
    this.answers.delete(tokenOf(url));
  }

  /** Answers received so far at `url` (a live array; empty for a listener's URL). */
  answersAt(url: string): ReceivedAnswer[] {
    const sink = this.answers.get(tokenOf(url));
    return Array.isArray(sink) ? sink : [];
  }

  /**
   * Waits for answers at `url`: until the first arrives or `deadline` (epoch ms) passes, then `settleMs` more to
   * catch a second one. Resolves with everything received by then.
   */
  async waitForAnswers(url: string, deadline: number, settleMs: number): Promise<ReceivedAnswer[]> {
    const list = this.answersAt(url);
    while (list.length === 0 && Date.now() < deadline) await sleep(Math.min(20, Math.max(1, deadline - Date.now())));
    if (list.length > 0) {
      const until = list[0].at + settleMs;
      while (Date.now() < until) await sleep(Math.min(20, until - Date.now()));
    }
    return [...list];
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function tokenOf(url: string): string {
  return new URL(url).pathname.split('/')[2] ?? '';
}

/** Answers one artifact download: the bytes, the file's content, or the fault asked for. */
function serveArtifact(file: HostedFile | { fault: ArtifactFault }, socket: Socket, res: ServerResponse): void {
  if ('fault' in file) {
    if (file.fault === 'reset') socket.resetAndDestroy();
    else if (file.fault !== 'hang') {
      res.writeHead(file.fault, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: file.fault === 404 ? 'no such artifact' : 'artifact store failure' }));
    }
    // 'hang': never answered; close() drops the connection.
    return;
  }
  if ('bytes' in file) {
    res.writeHead(200, { 'Content-Type': file.mimetype, 'Content-Length': String(file.bytes.byteLength) });
    res.end(file.bytes);
    return;
  }
  res.writeHead(200, { 'Content-Type': file.mimetype, 'Content-Length': String(file.size) });
  createReadStream(file.path)
    .on('error', () => res.destroy())
    .pipe(res);
}

/** Why the host could not bind, in terms of the flags that chose the address. */
function bindError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = `${urlHost(host)}:${port}`;
  switch (error.code) {
    case 'EADDRNOTAVAIL':
      return new UsageError(`--listen-host ${host}: no such address on this machine, cannot listen on ${where}`, {
        hint: 'Use an address of one of its interfaces (see `ip addr`), or 0.0.0.0 for all of them.',
      });
    case 'EAFNOSUPPORT':
      return new UsageError(`--listen-host ${host}: this machine has no IPv6, cannot listen on ${where}`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UsageError(`--listen-host ${host}: cannot resolve that host name`);
    case 'EADDRINUSE':
      return new UsageError(`--callback-port ${port}: already in use on ${host}`, { hint: 'Pick another port, or 0 for a free one.' });
    case 'EACCES':
      return new UsageError(`--callback-port ${port}: permission denied on ${host}`, {
        hint: 'Ports below 1024 need privileges; pick a higher one.',
      });
    default:
      return error;
  }
}
