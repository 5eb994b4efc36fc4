/**
 * One bounty as one transaction: the signed POST, the engine's acknowledgement, the artifact download, the scan and
 * the answer posted later to another URL, put together from the engine's observer events (engine/observer.ts). The
 * `serve` inspector lists these; the production recorder writes them as JSON lines; `test replay` reads those lines
 * back. The secret is never part of one: only the request's protocol headers, whose signature is an HMAC.
 */
import { parseBountyBody } from '../protocol/bounty.js';
import { validateDocument } from '../protocol/validate.js';
import type { AnswerEvent, DeliveryEvent, DownloadEvent, EngineObserver, JobEvent, ScanErrorEvent } from '../engine/observer.js';
import { encodeBody, type Transaction, type TransactionSource } from '../simulator/recording.js';

export interface TrackerOptions {
  /** Bytes of a request body kept (the rest is cut, `truncated`). */
  maxBodyBytes: number;
  /** Called when a transaction is created or changed (the inspector streams it). */
  onChange?(tx: Transaction): void;
  /** Called once a transaction can change no more (the recorder writes it). */
  onComplete?(tx: Transaction): void;
  /** Called with the downloaded bytes when the observer sees them (the inspector keeps them for replay, the recorder with --record-artifacts). */
  onArtifact?(sha256: string, data: Uint8Array, tx: Transaction | undefined): void;
  /** How a transaction's source is known (a replay the inspector sent), by delivery id; default `engine`. */
  sourceOf?(delivery: string | null): TransactionSource | undefined;
}

const ANSWER_WAIT_MS = 60_000;
const LOG_LINES = 50;

let isoSecond = Number.NaN;
let isoPrefix = '';
/** `new Date(ms).toISOString()` with the part up to the second reused: formatting a whole date cost more than the rest of a ping's transaction. */
function isoAt(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) [isoSecond, isoPrefix] = [second, new Date(second * 1000).toISOString().slice(0, -4)];
  return `${isoPrefix}${String(Math.floor(ms) - second * 1000).padStart(3, '0')}Z`;
}

/**
 * An EngineObserver that assembles transactions. A bounty's transaction stays open until its answer arrives (or a
 * minute past its expiration, or `flush()`); everything else is complete when it is acknowledged.
 */
export class TransactionTracker implements EngineObserver {
  readonly wantsBodies = true;
  #seq = 0;
  #rev = 0;
  /** Tells this process's transactions from those of an earlier run (ids, and the live stream's resume). */
  readonly instance = Date.now().toString(36);
  /** Open bounty transactions by queue key, and the latest by bounty id (downloads and scan errors carry only the id). */
  readonly #byKey = new Map<string, { tx: Transaction; until: number }>();
  readonly #byBounty = new Map<string, Transaction>();
  #lastSweep = 0;

  constructor(private readonly options: TrackerOptions) {}

  nextRev(): number {
    return ++this.#rev;
  }

  onDelivery(event: DeliveryEvent): void {
    const request = encodeBody(event.body ?? new Uint8Array(0), this.options.maxBodyBytes);
    // The app built this object for observers alone: kept as it is, not copied.
    request.headers = (event.headers ?? {}) as Record<string, string>;
    const tx: Transaction = {
      id: `${this.instance}-${++this.#seq}`,
      at: isoAt(Date.now() - event.ackMs),
      rev: this.nextRev(),
      source: this.options.sourceOf?.(event.delivery) ?? 'engine',
      event: event.event,
      delivery: event.delivery,
      request,
      response: { status: event.status, ackMs: event.ackMs },
    };
    if (event.reason) tx.response.reason = event.reason;
    if (event.duplicate) tx.response.duplicate = true;
    if (event.bounty !== undefined && event.body) this.#openBounty(tx, event.body, event.status === 202 && !event.duplicate);
    this.#published(tx);
  }

  /** `worker`: a bounty taken from the shared queue opens a transaction of its own, completed by its answer. */
  onJob(event: JobEvent): void {
    const tx: Transaction = {
      id: `${this.instance}-${++this.#seq}`,
      at: isoAt(event.receivedAt),
      rev: this.nextRev(),
      source: 'queue',
      event: 'bounty',
      delivery: event.delivery,
      request: encodeBody(event.body ?? new Uint8Array(0), this.options.maxBodyBytes),
      response: { status: 202, ackMs: null },
    };
    if (event.body) this.#openBounty(tx, event.body, true);
    this.#published(tx);
  }

  /** A new transaction is shown; unless it waits for an answer (#openBounty), nothing more will come for it. */
  #published(tx: Transaction): void {
    this.#sweep();
    this.options.onChange?.(tx);
    if (this.#byKey.get(tx.key ?? '')?.tx !== tx) this.options.onComplete?.(tx);
  }

  /** Fills in what the bounty says; one still due an answer stays open until it comes. */
  #openBounty(tx: Transaction, body: Uint8Array, accepted: boolean): void {
    const parsed = parseBountyBody(body);
    if (!parsed.ok) return;
    const b = parsed.value;
    tx.bounty = b.id;
    tx.key = `${b.id}:${b.phase ?? ''}`;
    tx.summary = {
      artifactType: b.artifact_type,
      artifactUri: b.artifact_uri,
      sha256: b.sha256,
      expiration: b.expiration.toISOString(),
      phase: b.phase,
      responseUrl: b.response_url,
    };
    if (accepted && b.expiration.getTime() > Date.now()) {
      // The same bounty again (a job handed back to the queue, then taken once more): the first attempt is done.
      const earlier = this.#byKey.get(tx.key);
      if (earlier) this.options.onComplete?.(earlier.tx);
      this.#byKey.set(tx.key, { tx, until: b.expiration.getTime() + ANSWER_WAIT_MS });
      this.#byBounty.set(b.id, tx);
    }
  }

  onDownload(event: DownloadEvent): void {
    const tx = this.#byBounty.get(event.bounty);
    const { data, bounty: _bounty, ...rest } = event;
    if (data && event.sha256 && event.sha256Ok) this.options.onArtifact?.(event.sha256, data, tx);
    if (!tx) return;
    tx.download = rest;
    this.#changed(tx);
  }

  onScanError(event: ScanErrorEvent): void {
    const tx = this.#byBounty.get(event.bounty);
    if (!tx) return;
    tx.scan = {
      ms: null,
      queueWaitMs: 0,
      ...tx.scan,
      error: { kind: event.kind, message: event.message, ...(event.stack ? { stack: event.stack } : {}) },
    };
    this.#changed(tx);
  }

  /** A log line written by a logger bound to `bounty` (inspector/log-tap.ts). */
  onLog(bounty: string, level: string, message: string, fields?: Record<string, unknown>): void {
    const tx = this.#byBounty.get(bounty);
    if (!tx) return;
    tx.log ??= [];
    if (tx.log.length >= LOG_LINES) return;
    const { bounty: _bounty, ...rest } = fields ?? {};
    const kept =
      Object.keys(rest).length > 0
        ? (JSON.parse(JSON.stringify(rest, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown>)
        : undefined;
    tx.log.push({ at: new Date().toISOString(), level, message: message.slice(0, 2000), ...(kept ? { fields: kept } : {}) });
    this.#changed(tx);
  }

  onAnswer(event: AnswerEvent): void {
    const open = this.#byKey.get(event.key);
    if (!open) return;
    const { tx } = open;
    this.#byKey.delete(event.key);
    if (this.#byBounty.get(event.bounty) === tx) this.#byBounty.delete(event.bounty);
    tx.scan = { ...tx.scan, ms: event.scanMs, queueWaitMs: event.queueWaitMs };
    const check = validateDocument(event.kind, event.body);
    const expiration = tx.summary ? Date.parse(tx.summary.expiration) : NaN;
    tx.answer = {
      kind: event.kind,
      verdict: event.verdict,
      bid: event.bid.toString(),
      comments: [...event.comments],
      delivered: event.delivered,
      status: event.status,
      attempts: event.attempts,
      ...(event.error ? { error: event.error } : {}),
      body: event.body,
      schemaOk: check.valid,
      ...(check.valid ? {} : { schemaErrors: check.errors.map((e) => `${e.path || '/'} ${e.message}`) }),
      marginMs: Number.isNaN(expiration) ? null : expiration - Date.now(),
    };
    this.#changed(tx);
    this.options.onComplete?.(tx);
  }

  /** Completes every open transaction as it is (at shutdown). */
  flush(): void {
    for (const { tx } of this.#byKey.values()) this.options.onComplete?.(tx);
    this.#byKey.clear();
    this.#byBounty.clear();
  }

  #changed(tx: Transaction): void {
    tx.rev = this.nextRev();
    this.options.onChange?.(tx);
  }

  /** Bounties whose answer never came (expired in the queue, a crash) are completed without one. */
  #sweep(): void {
    const now = Date.now();
    if (now - this.#lastSweep < 1000) return;
    this.#lastSweep = now;
    for (const [key, open] of this.#byKey) {
      if (open.until > now) continue;
      this.#byKey.delete(key);
      if (this.#byBounty.get(open.tx.bounty ?? '') === open.tx) this.#byBounty.delete(open.tx.bounty!);
      this.options.onComplete?.(open.tx);
    }
  }
}
