/**
 * Figure 1's second reference: the floor set by the web framework alone. A bare h3 v2 app served through
 * `toNodeHandler` (what the engine does) that reads the raw body, checks the HMAC like bench/bare-server.mjs, and
 * answers the same JSON, with none of the engine's logic. If the engine is close to this and both are far from the
 * bare node:http server, the gap is the framework's Request/Response adaptation, not the engine.
 * Usage: node bench/h3-server.mjs <secret>   (prints `ready url=http://127.0.0.1:<port>/`)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { H3, toNodeHandler } from 'h3';

const secret = process.argv[2] ?? '';
const HEX64 = /^[0-9a-f]{64}$/;
const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const app = new H3();
app.use(async (event) => {
  const request = event.req;
  if (request.method === 'GET') return json(200, { status: 'OK' });
  const body = new Uint8Array(await request.arrayBuffer());
  const header = request.headers.get('x-polyswarm-signature');
  if (header === null) return json(400, { 'X-POLYSWARM-SIGNATURE': 'Signature not included in headers' });
  const candidate = header.trim().toLowerCase();
  const expected = Buffer.from(createHmac('sha256', secret).update(body).digest('hex'), 'ascii');
  if (!HEX64.test(candidate) || !timingSafeEqual(expected, Buffer.from(candidate, 'ascii'))) {
    return json(401, { 'X-POLYSWARM-SIGNATURE': 'Signature does not match body' });
  }
  if ((request.headers.get('x-polyswarm-event') ?? '').toLowerCase() !== 'ping') {
    return json(400, { 'X-POLYSWARM-EVENT': 'Given event not supported' });
  }
  return json(200, { status: 'OK' });
});

const server = createServer(toNodeHandler(app));
server.keepAliveTimeout = 5_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`ready url=http://127.0.0.1:${server.address().port}/ pid=${process.pid}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
});
