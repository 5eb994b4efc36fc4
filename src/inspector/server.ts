/**
 * The inspector's HTTP side, on 127.0.0.1 only: the page (page.ts), its JSON API and live stream (README
 * "Inspector API"), and the receiver that replays and new bounties are answered to. Every request must name this
 * server in `Host` (a DNS-rebinding page cannot), and a browser request from another site (`Origin`) is refused:
 * another site open in the author's browser cannot read the history or drive replays.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { curlCommand, bountyFile, harLog, jsonLines } from './exports.js';
import type { Inspector, ReplayMode } from './inspector.js';
import { inspectorPage } from './page.js';
import type { Transaction } from './transaction.js';

const MAX_API_BODY = 64 * 1024 * 1024;
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

export interface InspectorServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** The filters of `GET /api/transactions` (and of the page): event, status (`2xx` or `401`), verdict, free text. */
export function matches(tx: Transaction, filter: { event?: string; status?: string; verdict?: string; q?: string }): boolean {
  if (filter.event && tx.event !== filter.event) return false;
  if (filter.status) {
    const s = String(tx.response.status);
    if (/^\dxx$/i.test(filter.status) ? s[0] !== filter.status[0] : s !== filter.status) return false;
  }
  if (filter.verdict && (tx.answer?.verdict ?? 'none') !== filter.verdict) return false;
  if (filter.q && !JSON.stringify(tx).toLowerCase().includes(filter.q.toLowerCase())) return false;
  return true;
}

function reply(
  res: ServerResponse,
  status: number,
  body: unknown,
  type = 'application/json; charset=utf-8',
  extra: Record<string, string> = {},
): void {
  // A string is sent as it is (pages, exports); anything else as JSON.
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extra });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_API_BODY) throw Object.assign(new Error(`body over ${MAX_API_BODY} bytes`), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = (await readBody(req)).toString('utf8');
  try {
    const value = JSON.parse(text || '{}') as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // below
  }
  throw Object.assign(new Error('expected a JSON object'), { status: 400 });
}

/** Starts the inspector on 127.0.0.1:`port` (0: a free one). */
export async function startInspectorServer(inspector: Inspector, port: number): Promise<InspectorServer> {
  const streams = new Set<ServerResponse>();
  let allowedHosts: string[] = [];
  const server = createServer((req, res) => {
    handle(req, res).catch((error: Error & { status?: number }) => {
      if (!res.headersSent) reply(res, error.status ?? 500, { error: error.message });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!allowedHosts.includes(host))
      return reply(res, 403, { error: `Host ${JSON.stringify(req.headers.host ?? '')} is not this inspector; open ${url}` });
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`)
      return reply(res, 403, { error: `requests from ${origin} are refused: only the inspector's own page may use its API` });
    const path = (req.url ?? '/').split('?')[0]!;
    const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const method = req.method ?? 'GET';
    const parts = path.split('/').filter(Boolean);

    if (parts[0] === 'receiver') return receiver(req, res, method, parts);
    if (method === 'GET' && path === '/')
      return reply(res, 200, inspectorPage(), 'text/html; charset=utf-8', {
        'content-security-policy':
          "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
      });
    if (parts[0] !== 'api') return reply(res, 404, { error: `Not found: ${method} ${path}` });

    if (method === 'GET' && path === '/api/events') return stream(req, res, query);
    if (method === 'GET' && path === '/api/transactions') {
      const filter = {
        event: query.get('event') ?? undefined,
        status: query.get('status') ?? undefined,
        verdict: query.get('verdict') ?? undefined,
        q: query.get('q') ?? undefined,
      };
      return reply(res, 200, {
        engine: inspector.engineUrl,
        bytes: inspector.history.bytes,
        maxBytes: inspector.history.maxBytes,
        transactions: inspector.history.list().filter((tx) => matches(tx, filter)),
      });
    }
    if (method === 'GET' && path === '/api/export.jsonl') {
      return reply(res, 200, jsonLines(inspector.history.list()), 'application/x-ndjson', {
        'content-disposition': 'attachment; filename="polyswarm-transactions.jsonl"',
      });
    }
    if (method === 'GET' && path === '/api/export.har') {
      return reply(res, 200, JSON.stringify(harLog(inspector.history.list(), inspector.engineUrl), null, 2), 'application/json', {
        'content-disposition': 'attachment; filename="polyswarm-transactions.har"',
      });
    }
    if (method === 'POST' && path === '/api/import') {
      try {
        return reply(res, 200, { imported: inspector.import((await readBody(req)).toString('utf8')) });
      } catch (error) {
        return reply(res, 400, { error: (error as Error).message });
      }
    }
    if (method === 'POST' && path === '/api/send') {
      const body = await readJson(req);
      const phase = body.phase === 'arbitration' ? 'arbitration' : 'assertion';
      const expirationMs = Number(body.expirationMs ?? 30_000);
      if (!Number.isFinite(expirationMs) || expirationMs < 1000 || expirationMs > 3_600_000)
        return reply(res, 400, { error: 'expirationMs must be between 1000 and 3600000' });
      const file = body.file as { name?: unknown; base64?: unknown } | undefined;
      if (file !== undefined && typeof file.base64 !== 'string')
        return reply(res, 400, { error: 'file.base64 must be the file, base64-encoded' });
      const sent = await inspector.sendBounty({
        expirationMs,
        phase,
        file: file ? { name: String(file.name ?? ''), bytes: Buffer.from(file.base64 as string, 'base64') } : undefined,
      });
      return reply(res, 200, sent);
    }
    if (parts[1] === 'transactions' && parts[2]) {
      const tx = inspector.history.get(decodeURIComponent(parts[2]));
      if (!tx) return reply(res, 404, { error: `no transaction ${parts[2]} (the history keeps ${inspector.history.size})` });
      const action = parts[3];
      if (method === 'GET' && action === undefined) return reply(res, 200, tx);
      if (method === 'GET' && action === 'draft') return reply(res, 200, { body: inspector.draft(tx) });
      if (method === 'GET' && action === 'curl')
        return reply(
          res,
          200,
          `${curlCommand(inspector.engineUrl, tx.event ?? 'bounty', inspector.draft(tx), inspector.options.secret)}\n`,
          'text/plain; charset=utf-8',
        );
      if (method === 'GET' && action === 'bounty')
        return reply(res, 200, bountyFile(tx), 'application/json', {
          'content-disposition': `attachment; filename="bounty-${tx.bounty ?? tx.id}.json"`,
        });
      if (method === 'POST' && action === 'replay') {
        const body = await readJson(req);
        const mode = body.mode as ReplayMode;
        if (!['exact', 'resigned', 'edited'].includes(mode)) return reply(res, 400, { error: 'mode must be exact, resigned or edited' });
        if (mode === 'edited' && typeof body.body !== 'string')
          return reply(res, 400, { error: 'an edited replay needs body (the text to send)' });
        return reply(res, 200, await inspector.replay(tx, mode, body.body as string | undefined));
      }
    }
    return reply(res, 404, { error: `Not found: ${method} ${path}` });
  }

  /** Server-sent events: every transaction as it is created or changes; resumes after `Last-Event-ID` (or `?since=`). */
  function stream(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    // Event ids are `<process>:<rev>`: after a restart of serve, a resuming page gets the whole new history.
    const instance = inspector.tracker.instance;
    const write = (rev: number, json: string) => res.write(`id: ${instance}:${rev}\nevent: transaction\ndata: ${json}\n\n`);
    res.write('retry: 1000\n\n');
    const [from, rev] = String(req.headers['last-event-id'] ?? `${instance}:${query.get('since') ?? ''}`).split(':');
    const since = from === instance ? Number(rev || NaN) : 0;
    if (Number.isFinite(since)) for (const json of inspector.history.since(since)) write((JSON.parse(json) as Transaction).rev, json);
    const unsubscribe = inspector.subscribe((tx, json) => write(tx.rev, json));
    const ping = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    streams.add(res);
    res.on('close', () => {
      clearInterval(ping);
      unsubscribe();
      streams.delete(res);
    });
  }

  async function receiver(req: IncomingMessage, res: ServerResponse, method: string, parts: string[]): Promise<void> {
    if (method === 'GET' && parts[1] === 'artifacts' && parts[2]) {
      const artifact = inspector.artifacts.get(parts[2]);
      if (!artifact) return reply(res, 404, { error: 'no such artifact' });
      res.writeHead(200, { 'content-type': artifact.mimetype, 'content-length': String(artifact.data.byteLength) });
      return void res.end(artifact.data);
    }
    if (method === 'POST' && parts[1] === 'answers' && parts[2]) {
      // The answer itself is in its transaction (the engine reports what it posted); this only acknowledges it,
      // as PolySwarm's receiver does.
      await readBody(req);
      return reply(res, 200, '"OK"');
    }
    return reply(res, 404, { error: 'not found' });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  allowedHosts = LOOPBACK_NAMES.map((name) => `${name}:${bound}`);
  const url = `http://127.0.0.1:${bound}/`;
  return {
    url,
    server,
    async close() {
      for (const res of streams) res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
