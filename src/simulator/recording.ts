/**
 * A recorded transaction: one bounty's signed POST, the engine's acknowledgement, its download, scan and answer, as
 * the `serve` inspector lists it, `start --record` / `worker --record` write it (JSON lines) and `test replay` reads
 * it back. The secret is never part of one: only the request's protocol headers, whose signature is an HMAC.
 */
import type { DownloadEvent } from '../engine/observer.js';

/**
 * How a transaction's request came to be: `engine` came from outside; `queue` is a `worker`'s line, a bounty it took
 * from the shared Redis queue (a web process accepted the request: no headers, no ack time, the body as stored).
 */
export type TransactionSource = 'engine' | 'queue' | 'replay-exact' | 'replay-resigned' | 'replay-edited' | 'send' | 'import';

export interface Transaction {
  /** `<process>-<n>`: unique across restarts of the process (or `import-…-<n>` once imported). */
  id: string;
  /** When the request arrived (ISO 8601). */
  at: string;
  /** Bumped on every change; the live stream's event id. */
  rev: number;
  source: TransactionSource;
  event: string | null;
  delivery: string | null;
  bounty?: string;
  /** `<bounty id>:<phase>`, as the engine's queue keys a bounty. */
  key?: string;
  request: {
    headers: Record<string, string>;
    /** The raw body: UTF-8 text, or base64 when the bytes are not UTF-8. Capped at the recorder's body cap. */
    body: string;
    encoding: 'utf8' | 'base64';
    bytes: number;
    truncated?: boolean;
  };
  /** `ackMs` is null on a worker's line (`source: 'queue'`): the web process acknowledged it, not the worker. */
  response: { status: number; reason?: string; ackMs: number | null; duplicate?: boolean };
  /** What the bounty said, for lists and filters. */
  summary?: {
    artifactType: string;
    artifactUri: string;
    sha256: string | null;
    expiration: string;
    phase: string | null;
    responseUrl: string;
  };
  download?: Omit<DownloadEvent, 'data' | 'bounty'>;
  scan?: { ms: number | null; queueWaitMs: number; error?: { kind: string; message: string; stack?: string } };
  /** Log lines written for this bounty (the scan's `ctx.log` and the engine's), first LOG_LINES only. */
  log?: { at: string; level: string; message: string; fields?: Record<string, unknown> }[];
  answer?: {
    kind: 'assertion' | 'vote';
    verdict: string;
    /** Wei, as digits. */
    bid: string;
    comments: string[];
    delivered: boolean;
    status: number | null;
    attempts: number;
    error?: string;
    body: string;
    /** The answer checked against the protocol's JSON schema (docs/protocol.md §5). */
    schemaOk: boolean;
    schemaErrors?: string[];
    /** Time left before the expiration when the answer was posted (ms; negative: late). */
    marginMs: number | null;
  };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text when it is UTF-8, else base64. */
export function encodeBody(body: Uint8Array, max: number): Transaction['request'] {
  // Pings and most refusals have no body: no decoder call, one small object.
  if (body.byteLength === 0) return { headers: {}, body: '', encoding: 'utf8', bytes: 0 };
  const kept = body.byteLength > max ? body.subarray(0, max) : body;
  let text: string;
  let encoding: 'utf8' | 'base64' = 'utf8';
  try {
    text = UTF8.decode(kept);
  } catch {
    text = Buffer.from(kept).toString('base64');
    encoding = 'base64';
  }
  return { headers: {}, body: text, encoding, bytes: body.byteLength, ...(kept !== body ? { truncated: true } : {}) };
}

export function decodeBody(request: Pick<Transaction['request'], 'body' | 'encoding'>): Buffer {
  return Buffer.from(request.body, request.encoding === 'base64' ? 'base64' : 'utf8');
}
