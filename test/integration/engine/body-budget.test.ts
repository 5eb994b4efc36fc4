/**
 * The node adapter's bound on body bytes held across requests (node-handler.ts): a signed body that would take the
 * total over the budget is refused 503 with Retry-After before a byte of it is read; its share comes back when a
 * body is read (or abandoned), and one body is always admitted.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../../helpers/poll.js';
import { createDeliveryHandler } from '../../../src/engine/app.js';
import { toNodeDeliveryHandler } from '../../../src/engine/node-handler.js';
import { sign } from '../../../src/protocol/signature.js';
import { createLogger } from '../../../src/util/logger.js';

const SECRET = 'budget-secret';
let server: Server | undefined;
const sockets: Socket[] = [];
/** Requests the server has taken (the handler has run for them) and client connections it has seen close. */
let requests = 0;
let closed = 0;

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function boot(maxBodyBytesInFlight: number): Promise<number> {
  const handle = createDeliveryHandler({
    secret: SECRET,
    maxBodyBytes: 10_000,
    logger: createLogger({ level: 'silent' }),
    queue: { enqueue: async () => 'accepted', health: async () => ({ ok: true }) },
    isClosing: () => false,
    counters: { received: 0, accepted: 0, duplicates: 0, rejected: 0, expired: 0 },
  });
  server = createServer(toNodeDeliveryHandler(handle, { maxBodyBytesInFlight }));
  requests = 0;
  closed = 0;
  // Listeners after the handler's own: when they run, the handler has taken (or given back) the body's share.
  server.on('request', () => requests++);
  server.on('connection', (socket) => socket.on('close', () => setImmediate(() => closed++)));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A signed ping with a `size`-byte body: sends the head and `sent` bytes of it; resolves with what comes back so far. */
function partialPing(port: number, size: number, sent: number): { socket: Socket; received: () => string; rest: () => void } {
  const body = Buffer.alloc(size, 0x20);
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let text = '';
  socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
  socket.on('error', () => {});
  socket.write(
    `POST / HTTP/1.1\r\nHost: x\r\nX-POLYSWARM-EVENT: ping\r\nX-POLYSWARM-SIGNATURE: ${sign(SECRET, body)}\r\nContent-Length: ${size}\r\n\r\n`,
  );
  socket.write(body.subarray(0, sent));
  return { socket, received: () => text, rest: () => void socket.write(body.subarray(sent)) };
}

describe('body bytes in flight (node adapter)', () => {
  it('a body that does not fit is refused 503 with Retry-After at once; the share returns when the first body is read', async () => {
    const port = await boot(1500);
    const first = partialPing(port, 1000, 500);
    await until(() => requests === 1, 'the first request to take its share');
    const second = partialPing(port, 1000, 0);
    await until(() => second.received().includes('\r\n\r\n{'), 'the refusal');
    expect(second.received()).toMatch(/^HTTP\/1\.1 503 /);
    expect(second.received()).toMatch(/retry-after: 5/i);
    expect(second.received()).toContain('{"error":"Too many request bodies in flight; retry later"}');
    expect(first.received()).toBe('');
    first.rest();
    await until(() => first.received().includes('{"status":"OK"}'), 'the first answer');
    expect(first.received()).toMatch(/^HTTP\/1\.1 200 /);
    // The first body's share is back: another one of the same size fits.
    const third = partialPing(port, 1000, 1000);
    await until(() => third.received().includes('{"status":"OK"}'), 'the third answer');
  });

  it('one body is always admitted, even one larger than the budget', async () => {
    const port = await boot(100);
    const only = partialPing(port, 1000, 1000);
    await until(() => only.received().includes('{"status":"OK"}'), 'the answer');
  });

  it('a client that leaves mid-body gives its share back', async () => {
    const port = await boot(1500);
    const leaver = partialPing(port, 1000, 100);
    await until(() => requests === 1, 'the request to take its share');
    leaver.socket.destroy();
    await until(() => closed === 1, 'the server to see the client leave');
    const next = partialPing(port, 1000, 1000);
    await until(() => next.received().includes('{"status":"OK"}'), 'the answer');
  });
});
