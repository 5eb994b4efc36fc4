/**
 * Figure 1's baseline: a bare `node:http` server doing what the engine does for a ping and nothing more: read the
 * raw body, check the lowercase-hex HMAC-SHA256 in constant time, answer the same JSON. Run as a child process
 * (like the engine), so both get a core of their own and the load generator the same share.
 * Usage: node bench/bare-server.mjs <secret>   (prints `ready url=http://127.0.0.1:<port>/`)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const secret = process.argv[2] ?? '';
const HEX64 = /^[0-9a-f]{64}$/;
const send = (res, status, body) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
};

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method === 'GET') return send(res, 200, { status: 'OK' });
    const header = req.headers['x-polyswarm-signature'];
    if (header === undefined) return send(res, 400, { 'X-POLYSWARM-SIGNATURE': 'Signature not included in headers' });
    const candidate = String(header).trim().toLowerCase();
    const expected = Buffer.from(createHmac('sha256', secret).update(Buffer.concat(chunks)).digest('hex'), 'ascii');
    if (!HEX64.test(candidate) || !timingSafeEqual(expected, Buffer.from(candidate, 'ascii'))) {
      return send(res, 401, { 'X-POLYSWARM-SIGNATURE': 'Signature does not match body' });
    }
    if (String(req.headers['x-polyswarm-event'] ?? '').toLowerCase() !== 'ping') {
      return send(res, 400, { 'X-POLYSWARM-EVENT': 'Given event not supported' });
    }
    send(res, 200, { status: 'OK' });
  });
});
server.keepAliveTimeout = 5_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`ready url=http://127.0.0.1:${server.address().port}/ pid=${process.pid}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
});
