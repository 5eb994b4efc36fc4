/**
 * Fair connections on the production listener (server.ts, connections.ts): one address gets at most its cap and
 * its excess is refused (held unread, then closed); past the global cap a newcomer takes the place of the busiest
 * address's oldest idle connection, else of its oldest one still sending a body, never of one being answered; a
 * signed ping from another address is answered all along. Real sockets on 127.0.0.x, small caps.
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createDeliveryHandler } from '../../../src/engine/app.js';
import { isEngineError } from '../../../src/engine/errors.js';
import { toNodeDeliveryHandler } from '../../../src/engine/node-handler.js';
import { type Listener, type ListenOptions, listenWithTimeouts } from '../../../src/engine/server.js';
import { sign } from '../../../src/protocol/signature.js';
import { createLogger } from '../../../src/util/logger.js';
import { until } from '../../helpers/poll.js';

const SECRET = 'fair-secret';
let listener: Listener | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await listener?.close();
  listener = undefined;
});

/** Requests whose headers reached the handler, by their X-Test header. */
const arrived = new Map<string, number>();

/** The real webhook handler behind listenWithTimeouts; requests with `X-Test: hang` are never answered. */
async function boot(options: ListenOptions): Promise<number> {
  const handle = createDeliveryHandler({
    secret: SECRET,
    maxBodyBytes: 100_000,
    logger: createLogger({ level: 'silent' }),
    queue: { enqueue: async () => 'accepted', health: async () => ({ ok: true }) },
    isClosing: () => false,
    counters: { received: 0, accepted: 0, duplicates: 0, rejected: 0, expired: 0 },
  });
  const node = toNodeDeliveryHandler(handle);
  arrived.clear();
  listener = await listenWithTimeouts(
    (req, res) => {
      const test = String(req.headers['x-test']);
      arrived.set(test, (arrived.get(test) ?? 0) + 1);
      if (test !== 'hang') node(req, res);
    },
    { port: 0, ...options },
  );
  return Number(new URL(listener.url).port);
}

/** A connection from `from`, once connected (`closed` turns true when the server closes it). */
async function open(port: number, from: string): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, localAddress: from });
  socket.on('error', () => {});
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** Opens `count` connections from `from` and waits until the server has seen them all. */
async function openMany(port: number, from: string, count: number): Promise<Socket[]> {
  const seenBefore = seen();
  const opened = [];
  for (let i = 0; i < count; i++) opened.push(await open(port, from));
  await until(() => seen() >= seenBefore + count, `the server to see ${count} connections from ${from}`);
  return opened;
}

/** Connections the server has decided on: held, refused or (as a newcomer) admitted after a cut. */
function seen(): number {
  const s = listener!.connections();
  return s.open + s.refused + s.evicted;
}

/** A signed ping on a new connection from `from`; resolves with the status (rejects after 2 s). */
function ping(port: number, from: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      localAddress: from,
      agent: false,
      method: 'POST',
      headers: { 'x-polyswarm-event': 'ping', 'x-polyswarm-signature': sign(SECRET, '') },
      timeout: 2000,
    });
    req.on('timeout', () => req.destroy(new Error(`ping from ${from}: no answer within 2 s`)));
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.end();
  });
}

describe('fair connections (listenWithTimeouts)', () => {
  it('one address holds at most its cap; its excess is refused and held unread; another address is served', async () => {
    const port = await boot({ maxConnections: 40, maxConnectionsPerAddress: 10 });
    const hog = await openMany(port, '127.0.0.1', 25);
    const stats = listener!.connections();
    expect(stats.busiest).toEqual({ address: '127.0.0.1', open: 10 });
    expect(stats.refused).toBe(15);
    expect(stats.refusedHeld).toBe(15);
    expect(stats.evicted).toBe(0);
    // Held, not closed at once: a client that reconnects when dropped would otherwise come straight back.
    expect(hog.filter((s) => s.closed)).toEqual([]);
    expect(await ping(port, '127.0.0.2')).toBe(200);
    // A refused connection is never served: what it sends is not read, and it is closed within 2.5-7.5 s.
    const refused = hog[24]!;
    let answer = '';
    refused.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    refused.write(`POST / HTTP/1.1\r\nHost: x\r\nX-POLYSWARM-EVENT: ping\r\nX-POLYSWARM-SIGNATURE: ${sign(SECRET, '')}\r\n\r\n`);
    await until(() => refused.closed, 'the refused connection to be closed', 10_000);
    expect(answer).toBe('');
    expect(hog.slice(0, 10).filter((s) => s.closed)).toEqual([]);
  });

  it('at the global cap a newcomer takes the place of the oldest idle connection of the busiest address', async () => {
    const port = await boot({ maxConnections: 20, maxConnectionsPerAddress: 10 });
    const busy = await openMany(port, '127.0.0.1', 10);
    const other = await openMany(port, '127.0.0.3', 6);
    await openMany(port, '127.0.0.4', 4);
    expect(listener!.connections().open).toBe(20);
    expect(await ping(port, '127.0.0.2')).toBe(200);
    await until(() => busy[0]!.closed, "the busiest address's oldest connection to be cut");
    expect(busy.slice(1).filter((s) => s.closed)).toEqual([]);
    expect(other.filter((s) => s.closed)).toEqual([]);
    const stats = listener!.connections();
    expect(stats.evicted).toBe(1);
    expect(stats.refused).toBe(0);
  });

  it("at the global cap a busy address's own newcomer is refused rather than cutting its others", async () => {
    const port = await boot({ maxConnections: 20, maxConnectionsPerAddress: 15 });
    const first = await openMany(port, '127.0.0.1', 10);
    await openMany(port, '127.0.0.3', 10);
    await openMany(port, '127.0.0.1', 3);
    const stats = listener!.connections();
    expect(stats).toMatchObject({ open: 20, refused: 3, evicted: 0 });
    expect(first.filter((s) => s.closed)).toEqual([]);
  });

  it('a connection still sending its body is cut only when no idle one is left; one being answered never', async () => {
    const port = await boot({ maxConnections: 4, maxConnectionsPerAddress: 4 });
    const head = (event: string) =>
      `POST / HTTP/1.1\r\nHost: x\r\nX-POLYSWARM-EVENT: ping\r\nX-POLYSWARM-SIGNATURE: ${sign(SECRET, 'x'.repeat(100))}\r\nContent-Length: 100\r\nX-Test: ${event}\r\n\r\n`;
    // Two being answered (complete requests the handler never answers), one sending its body slowly, one idle.
    const answering = [await open(port, '127.0.0.1'), await open(port, '127.0.0.1')];
    for (const s of answering) s.write(`${head('hang')}${'x'.repeat(100)}`);
    const receiving = await open(port, '127.0.0.1');
    receiving.write(`${head('slow')}xx`);
    const idle = await open(port, '127.0.0.1');
    await until(() => arrived.get('hang') === 2 && arrived.get('slow') === 1, 'the three requests to arrive');
    await until(() => listener!.connections().open === 4, 'four connections held');
    // Each state shows only in what gets cut: first the idle connection.
    expect(await ping(port, '127.0.0.2')).toBe(200);
    await until(() => idle.closed, 'the idle connection to be cut first');
    expect(receiving.closed).toBe(false);
    // Full again with one more being answered: the connection still sending its body goes next.
    answering.push(await open(port, '127.0.0.1'));
    answering[2]!.write(`${head('hang')}${'x'.repeat(100)}`);
    await until(() => arrived.get('hang') === 3 && listener!.connections().open === 4, 'four connections held again');
    expect(await ping(port, '127.0.0.5')).toBe(200);
    await until(() => receiving.closed, 'the connection still sending its body to be cut next');
    // Full of connections being answered: a newcomer is refused, none of them cut.
    answering.push(await open(port, '127.0.0.1'));
    answering[3]!.write(`${head('hang')}${'x'.repeat(100)}`);
    await until(() => arrived.get('hang') === 4 && listener!.connections().open === 4, 'four connections being answered');
    await openMany(port, '127.0.0.6', 1);
    expect(listener!.connections()).toMatchObject({ open: 4, evicted: 2, refused: 1 });
    expect(answering.filter((s) => s.closed)).toEqual([]);
  });

  it('close() ends the refused connections it holds, and those that never sent a byte, without waiting', async () => {
    const port = await boot({ maxConnections: 10, maxConnectionsPerAddress: 2 });
    const hog = await openMany(port, '127.0.0.1', 6);
    expect(listener!.connections().refusedHeld).toBe(4);
    const started = Date.now();
    await listener!.close();
    expect(Date.now() - started).toBeLessThan(2000);
    await until(() => hog.every((s) => s.closed), 'every connection to be closed');
  });

  it('caps that are not whole numbers ≥ 1 are refused with INVALID_OPTION', async () => {
    for (const options of [{ maxConnections: 0 }, { maxConnectionsPerAddress: 1.5 }]) {
      const error = await listenWithTimeouts(() => {}, { port: 0, ...options }).catch((e: unknown) => e);
      expect(isEngineError(error, 'INVALID_OPTION')).toBe(true);
    }
  });
});
