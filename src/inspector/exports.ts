/**
 * What the inspector exports: a transaction as a re-signed `curl` command or as a bounty file for
 * `test bounty --payload FILE`, the history as JSON lines (what `--record` writes and `test replay` reads) or as a
 * HAR 1.2 log (http://www.softwareishard.com/blog/har-12-spec/) for HTTP tools.
 */
import { randomUUID } from 'node:crypto';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER } from '../protocol/events.js';
import { sign } from '../protocol/signature.js';
import { packageInfo } from '../util/package.js';
import { decodeBody, type Transaction } from '../simulator/recording.js';

/** A POSIX shell single-quoted word. */
function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** `curl` sending `body` to `url`, signed with `secret` (the command holds the signature, never the secret). */
export function curlCommand(url: string, event: string, body: string, secret: string): string {
  return [
    `curl -sS -X POST ${quote(url)}`,
    `-H 'Content-Type: application/json'`,
    `-H ${quote(`${EVENT_HEADER}: ${event}`)}`,
    `-H ${quote(`${DELIVERY_HEADER}: ${randomUUID()}`)}`,
    `-H ${quote(`${SIGNATURE_HEADER}: ${sign(secret, Buffer.from(body, 'utf8'))}`)}`,
    `--data-binary ${quote(body)}`,
  ].join(' \\\n  ');
}

/** The recorded bounty, pretty-printed, as `test bounty --payload FILE` sends it (it points response_url at its receiver). */
export function bountyFile(tx: Transaction): string {
  const text = decodeBody(tx.request).toString('utf8');
  try {
    return `${JSON.stringify(JSON.parse(text), null, 2)}\n`;
  } catch {
    return text;
  }
}

export function jsonLines(list: readonly Transaction[]): string {
  return list.map((tx) => `${JSON.stringify(tx)}\n`).join('');
}

/** The history as a HAR 1.2 log; the PolySwarm side (download, scan, answer) rides along in `_polyswarm`. */
export function harLog(list: readonly Transaction[], engineUrl: string): Record<string, unknown> {
  const entries = list.map((tx) => {
    const replyText = tx.response.reason ? JSON.stringify({ error: tx.response.reason }) : '';
    return {
      startedDateTime: tx.at,
      // A worker's line (imported) has no ack time of its own: HAR wants a number.
      time: tx.response.ackMs ?? 0,
      request: {
        method: tx.event === 'GET' ? 'GET' : 'POST',
        url: engineUrl,
        httpVersion: 'HTTP/1.1',
        cookies: [],
        headers: Object.entries(tx.request.headers).map(([name, value]) => ({ name, value })),
        queryString: [],
        postData: {
          mimeType: tx.request.headers['content-type'] ?? 'application/json',
          text: tx.request.body,
          ...(tx.request.encoding === 'base64' ? { encoding: 'base64' } : {}),
        },
        headersSize: -1,
        bodySize: tx.request.bytes,
      },
      response: {
        status: tx.response.status,
        statusText: '',
        httpVersion: 'HTTP/1.1',
        cookies: [],
        headers: [],
        content: { size: replyText.length, mimeType: 'application/json', text: replyText },
        redirectURL: '',
        headersSize: -1,
        bodySize: -1,
      },
      cache: {},
      timings: { send: 0, wait: tx.response.ackMs ?? 0, receive: 0 },
      _polyswarm: { id: tx.id, source: tx.source, bounty: tx.bounty, download: tx.download, scan: tx.scan, answer: tx.answer },
    };
  });
  return { log: { version: '1.2', creator: { name: 'polyswarm-engine inspector', version: packageInfo().version }, entries } };
}
