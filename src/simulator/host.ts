import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

/** One POST that reached the answer receiver, exactly as received. */
export interface ReceivedAnswer {
  /** Date.now() when the body was complete. */
  at: number;
  bytes: Buffer;
  contentType: string | undefined;
}

/** A file the host serves to the engine under test. */
export interface HostedFile {
  bytes: Uint8Array;
  mimetype: string;
}

const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * The simulator's own loopback server: it plays PolySwarm's side, serving artifacts (`/artifacts/<token>`) and
 * receiving answers (`/answers/<token>`), so a test run needs nothing on the internet. Each bounty gets its own
 * answer token, so concurrent cases never see each other's answers.
 */
export class SimulatorHost {
  private readonly server: Server;
  private readonly files = new Map<string, HostedFile>();
  private readonly answers = new Map<string, ReceivedAnswer[]>();
  private readonly downloads = new Map<string, number>();
  private base = '';

  constructor() {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const [, area, token] = path.split('/');
      if (req.method === 'GET' && area === 'artifacts' && token && this.files.has(token)) {
        const file = this.files.get(token)!;
        this.downloads.set(token, (this.downloads.get(token) ?? 0) + 1);
        res.writeHead(200, { 'Content-Type': file.mimetype, 'Content-Length': String(file.bytes.byteLength) });
        res.end(file.bytes);
        return;
      }
      if (req.method === 'POST' && area === 'answers' && token && this.answers.has(token)) {
        const chunks: Buffer[] = [];
        let size = 0;
        req.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
        });
        req.on('end', () => {
          this.answers.get(token)!.push({ at: Date.now(), bytes: Buffer.concat(chunks), contentType: req.headers['content-type'] });
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

  /** Binds 127.0.0.1 on a free port. */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Serves `file` and returns its URL. */
  host(file: HostedFile, suffix = ''): string {
    const token = randomUUID();
    this.files.set(token, file);
    return `${this.base}/artifacts/${token}${suffix}`;
  }

  /** Whether `url` is one of the artifacts this host serves. */
  isHosted(url: string): boolean {
    try {
      const parsed = new URL(url);
      return `${parsed.protocol}//${parsed.host}` === this.base && this.files.has(parsed.pathname.split('/')[2] ?? '');
    } catch {
      return false;
    }
  }

  /** How many times the artifact at `url` was downloaded. */
  downloadCount(url: string): number {
    const token = new URL(url).pathname.split('/')[2] ?? '';
    return this.downloads.get(token) ?? 0;
  }

  /** A fresh response_url whose answers are collected apart from every other one. */
  answerUrl(): string {
    const token = randomUUID();
    this.answers.set(token, []);
    return `${this.base}/answers/${token}`;
  }

  /** Answers received so far at `url` (a live array). */
  answersAt(url: string): ReceivedAnswer[] {
    const token = new URL(url).pathname.split('/')[2] ?? '';
    return this.answers.get(token) ?? [];
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

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
