/**
 * The inspector's HTTP side, on 127.0.0.1 only: the page (page.ts), its JSON API and live stream (docs: the
 * inspector page), routed with h3. Every request must name this server in `Host` (a DNS-rebinding page cannot), and
 * a browser request from another site (`Origin`) is refused: another site open in the author's browser cannot read
 * the history or drive replays. Replays and new bounties are answered to the simulator's host (inspector.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEventStream, getRouterParam, H3, HTTPError, type H3Event } from 'h3';
import { toNodeHandler } from 'h3/node';
import { bountyFile, curlCommand, harLog, jsonLines } from './exports.js';
import type { Change, Inspector, ReplayMode } from './inspector.js';
import { inspectorPage } from './page.js';
import type { Transaction } from '../simulator/recording.js';

const MAX_API_BODY = 64 * 1024 * 1024;
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];
const PAGE_POLICY = "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'";

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

/** A JSON error as every answer of this API gives it: `{ "error": "…" }`. */
function refuse(status: number, message: string): Response {
  return Response.json({ error: message }, { status, headers: { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } });
}

/** A body sent as it is (the page, exports), with the headers every answer carries. */
function text(body: string, type: string, extra: Record<string, string> = {}): Response {
  return new Response(body, {
    headers: { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extra },
  });
}

async function readBytes(event: H3Event): Promise<Buffer> {
  const declared = Number(event.req.headers.get('content-length') ?? 0);
  if (declared > MAX_API_BODY) throw new HTTPError({ status: 413, message: `body over ${MAX_API_BODY} bytes` });
  const bytes = Buffer.from(await event.req.arrayBuffer());
  if (bytes.byteLength > MAX_API_BODY) throw new HTTPError({ status: 413, message: `body over ${MAX_API_BODY} bytes` });
  return bytes;
}

async function readObject(event: H3Event): Promise<Record<string, unknown>> {
  const body = (await readBytes(event)).toString('utf8');
  try {
    const value = JSON.parse(body || '{}') as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // below
  }
  throw new HTTPError({ status: 400, message: 'expected a JSON object' });
}

/** The inspector's API as an h3 app; `bound` is read per request (the port is known only once bound). */
function inspectorApp(inspector: Inspector, bound: { hosts: string[]; url: string }): H3 {
  const app = new H3({
    onError: (error) => refuse(error.status ?? 500, error.message),
  });
  app.use((event, next) => {
    const host = (event.req.headers.get('host') ?? '').toLowerCase();
    if (!bound.hosts.includes(host))
      return refuse(403, `Host ${JSON.stringify(event.req.headers.get('host') ?? '')} is not this inspector; open ${bound.url}`);
    const origin = event.req.headers.get('origin');
    if (origin !== null && origin !== `http://${host}`) {
      return refuse(403, `requests from ${origin} are refused: only the inspector's own page may use its API`);
    }
    return next();
  });
  const transaction = (event: H3Event): Transaction => {
    const id = decodeURIComponent(getRouterParam(event, 'id') ?? '');
    const tx = inspector.history.get(id);
    if (!tx) throw new HTTPError({ status: 404, message: `no transaction ${id} (the history keeps ${inspector.history.size})` });
    return tx;
  };

  app.get('/', () => text(inspectorPage(), 'text/html; charset=utf-8', { 'content-security-policy': PAGE_POLICY }));
  app.get('/api/events', (event) => stream(inspector, event));
  app.get('/api/transactions', (event) => {
    const filter = Object.fromEntries(['event', 'status', 'verdict', 'q'].map((k) => [k, event.url.searchParams.get(k) ?? undefined]));
    return {
      engine: inspector.engineUrl,
      bytes: inspector.history.bytes,
      maxBytes: inspector.history.maxBytes,
      transactions: inspector.history.list().filter((tx) => matches(tx, filter)),
    };
  });
  app.get('/api/export.jsonl', () =>
    text(jsonLines(inspector.history.list()), 'application/x-ndjson', {
      'content-disposition': 'attachment; filename="polyswarm-transactions.jsonl"',
    }),
  );
  app.get('/api/export.har', () =>
    text(JSON.stringify(harLog(inspector.history.list(), inspector.engineUrl), null, 2), 'application/json', {
      'content-disposition': 'attachment; filename="polyswarm-transactions.har"',
    }),
  );
  app.post('/api/import', async (event) => {
    const body = (await readBytes(event)).toString('utf8');
    try {
      return { imported: inspector.import(body) };
    } catch (error) {
      return refuse(400, (error as Error).message);
    }
  });
  app.post('/api/send', async (event) => {
    const body = await readObject(event);
    const phase = body.phase === 'arbitration' ? 'arbitration' : 'assertion';
    const expirationMs = Number(body.expirationMs ?? 30_000);
    if (!Number.isFinite(expirationMs) || expirationMs < 1000 || expirationMs > 3_600_000)
      return refuse(400, 'expirationMs must be between 1000 and 3600000');
    const file = body.file as { name?: unknown; base64?: unknown } | undefined;
    if (file !== undefined && typeof file.base64 !== 'string') return refuse(400, 'file.base64 must be the file, base64-encoded');
    return inspector.sendBounty({
      expirationMs,
      phase,
      file: file ? { name: String(file.name ?? ''), bytes: Buffer.from(file.base64 as string, 'base64') } : undefined,
    });
  });
  app.get('/api/transactions/:id', (event) => transaction(event));
  app.get('/api/transactions/:id/draft', (event) => ({ body: inspector.draft(transaction(event)) }));
  app.get('/api/transactions/:id/curl', (event) => {
    const tx = transaction(event);
    const command = curlCommand(inspector.engineUrl, tx.event ?? 'bounty', inspector.draft(tx), inspector.options.secret);
    return text(`${command}\n`, 'text/plain; charset=utf-8');
  });
  app.get('/api/transactions/:id/bounty', (event) => {
    const tx = transaction(event);
    return text(bountyFile(tx), 'application/json', { 'content-disposition': `attachment; filename="bounty-${tx.bounty ?? tx.id}.json"` });
  });
  app.post('/api/transactions/:id/replay', async (event) => {
    const tx = transaction(event);
    const body = await readObject(event);
    const mode = body.mode as ReplayMode;
    if (!['exact', 'resigned', 'edited'].includes(mode)) return refuse(400, 'mode must be exact, resigned or edited');
    if (mode === 'edited' && typeof body.body !== 'string') return refuse(400, 'an edited replay needs body (the text to send)');
    return inspector.replay(tx, mode, body.body as string | undefined);
  });
  app.all('/**', (event) => refuse(404, `Not found: ${event.req.method} ${event.url.pathname}`));
  return app;
}

/** Server-sent events: every transaction as it is created or changes; resumes after `Last-Event-ID` (or `?since=`). */
function stream(inspector: Inspector, event: H3Event) {
  const events = createEventStream(event);
  // Event ids are `<process>:<rev>`: after a restart of serve, a resuming page gets the whole new history.
  const instance = inspector.tracker.instance;
  const push = (batch: Change[]) =>
    void events.push(batch.map((c) => ({ id: `${instance}:${c.rev}`, event: 'transaction', data: c.json })));
  const [from, rev] = String(event.req.headers.get('last-event-id') ?? `${instance}:${event.url.searchParams.get('since') ?? ''}`).split(
    ':',
  );
  const since = from === instance ? Number(rev || Number.NaN) : 0;
  void events.push({ retry: 1000, data: '' });
  if (Number.isFinite(since)) push(inspector.history.since(since));
  const unsubscribe = inspector.subscribe(push);
  const ping = setInterval(() => void events.pushComment('keep-alive'), 15_000);
  events.onClosed(() => {
    clearInterval(ping);
    unsubscribe();
  });
  return events.send();
}

/** Starts the inspector on 127.0.0.1:`port` (0: a free one). */
export async function startInspectorServer(inspector: Inspector, port: number): Promise<InspectorServer> {
  const bound = { hosts: [] as string[], url: '' };
  const server = createServer(toNodeHandler(inspectorApp(inspector, bound)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: boundPort } = server.address() as AddressInfo;
  bound.hosts = LOOPBACK_NAMES.map((name) => `${name}:${boundPort}`);
  bound.url = `http://127.0.0.1:${boundPort}/`;
  return {
    url: bound.url,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
