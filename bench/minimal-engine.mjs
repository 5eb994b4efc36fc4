/**
 * Figure 11's floor: the least an engine can do and keep the promise of a 202 — check the HMAC, parse the body,
 * put it in LMDB before the 202 (as `start` does, options as the engine's journal), fetch the artifact and post a
 * ~300-byte answer through one undici Agent, remove the record. `--memory` leaves LMDB out (the floor of
 * `--queue memory`). No limits, no dedup, no retries, no logs: only what every bounty costs.
 * Usage: node bench/minimal-engine.mjs <secret> [--memory]   (prints `ready url=http://127.0.0.1:<port>/`)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { Agent, request } from 'undici';

const [secret = '', mode] = process.argv.slice(2);
const dir = mode === '--memory' ? null : mkdtempSync(join(tmpdir(), 'polyswarm-bench-minimal-'));
const db = dir && open({ path: join(dir, 'journal.lmdb'), compression: false, encoding: 'binary', mapSize: 2 * 1024 ** 3 });
const agent = new Agent({ keepAliveTimeout: 30_000 });
const METADATA = {
  malware_family: '',
  product: 'bench-minimal-engine',
  scanner: {
    version: '0.0.0',
    vendor_version: '0.0.0',
    signatures_version: '0.0.0',
    environment: { architecture: 'x64', operating_system: 'linux' },
  },
};

async function answer(key, bounty) {
  const artifact = await request(bounty.artifact_uri, { dispatcher: agent });
  await artifact.body.arrayBuffer();
  const body = JSON.stringify({ verdict: 'benign', bid: String(bounty.rules.max_allowed_bid), confidence: 1, metadata: METADATA });
  const posted = await request(bounty.response_url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
    dispatcher: agent,
  });
  await posted.body.dump();
  await db?.remove(key);
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const signature = Buffer.from(String(req.headers['x-polyswarm-signature'] ?? ''), 'ascii');
    const expected = Buffer.from(createHmac('sha256', secret).update(body).digest('hex'), 'ascii');
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return res.writeHead(401).end();
    if (req.headers['x-polyswarm-event'] !== 'bounty')
      return res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"OK"}');
    const bounty = JSON.parse(body.toString('utf8'));
    const key = `${bounty.id}:${bounty.phase}`;
    await db?.put(key, body);
    res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"ACCEPTED"}');
    answer(key, bounty).catch((error) => process.stderr.write(`${error}\n`));
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`ready url=http://127.0.0.1:${server.address().port}/ pid=${process.pid}\n`));
process.on('SIGTERM', async () => {
  server.closeAllConnections();
  server.close();
  await db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
