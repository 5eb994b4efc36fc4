/**
 * The inspector's history: transactions in arrival order, bounded in bytes (`--inspector-history`), the oldest out
 * first. Artifacts kept for replay are bounded the same way.
 *
 * A finished transaction is kept as its JSON bytes in a ring of Buffers, written at most WRITE_MS later (or once
 * WRITE_COUNT wait): the request path only hands the object over, and nothing per transaction stays on the JavaScript
 * heap for the garbage collector to trace and promote (kept as objects, then as strings, a full history cost each
 * request more than everything else the inspector does). Not on the next turn: a setImmediate per turn made the event
 * loop go round once more for every lone ping, 7–8 % of the CPU per ping at 2,000 pings/s (bench figure 10's
 * `same_load_off_over_on`). Every read writes out what waits first. One still open (a bounty awaiting its answer) is
 * the tracker's object.
 */
import type { Transaction } from '../simulator/recording.js';

/** JSON texts back to back, with where each ends, its rev and its arrival order; dropped whole, oldest first. */
type Segment = { data: Buffer; used: number; ends: number[]; revs: number[]; orders: number[] };
/** A transaction kept: its JSON text, its rev and its arrival order. */
type Kept = { rev: number; json: string; order: number };

/** How long a finished transaction waits to be written, and how many may wait (so the wait stays short and small). */
const WRITE_MS = 20;
const WRITE_COUNT = 512;

export class History {
  #segments: Segment[] = [];
  /** Open transactions and their arrival order; finished ones wait in `#pending` to be written. */
  readonly #open = new Map<Transaction, number>();
  #pending: [Transaction, number][] = [];
  #timer: NodeJS.Timeout | undefined;
  #order = 0;
  readonly #segmentBytes: number;

  constructor(readonly maxBytes: number) {
    this.#segmentBytes = Math.min(maxBytes, Math.max(4096, Math.min(1 << 20, Math.floor(maxBytes / 16))));
  }

  /** A transaction created or changed that may change again: listed as it is until `put`. */
  open(tx: Transaction): void {
    if (!this.#open.has(tx)) this.#open.set(tx, ++this.#order);
  }

  /**
   * A transaction that can change no more: serialized into the ring within WRITE_MS (unref'd: never keeps a process
   * up), or on the next turn once WRITE_COUNT wait (not here: put runs on the request path, before the answer).
   */
  put(tx: Transaction): void {
    const order = this.#open.get(tx) ?? ++this.#order;
    this.#open.delete(tx);
    const waiting = this.#pending.push([tx, order]);
    if (waiting === 1) this.#timer = setTimeout(this.#flushLater, WRITE_MS).unref();
    else if (waiting === WRITE_COUNT) setImmediate(this.#flushLater);
  }

  readonly #flushLater = () => this.#flush();

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const [tx, order] of this.#pending.splice(0)) {
      const json = JSON.stringify(tx);
      const bytes = Buffer.byteLength(json);
      let s = this.#segments.at(-1);
      if (!s || s.used + bytes > s.data.length) s = this.#grow(bytes);
      s.used += s.data.write(json, s.used);
      s.ends.push(s.used);
      s.revs.push(tx.rev);
      s.orders.push(order);
    }
  }

  /** A new segment for at least `bytes`, once the oldest are dropped to fit the bound (one's memory reused). */
  #grow(bytes: number): Segment {
    const size = Math.max(this.#segmentBytes, bytes);
    let reused: Buffer | undefined;
    while (this.#segments.length > 0 && this.#segments.reduce((sum, s) => sum + s.data.length, size) > this.maxBytes) {
      const oldest = this.#segments.shift()!;
      if (oldest.data.length === size) reused = oldest.data;
    }
    const segment: Segment = { data: reused ?? Buffer.allocUnsafeSlow(size), used: 0, ends: [], revs: [], orders: [] };
    this.#segments.push(segment);
    return segment;
  }

  /** The transactions changed since `rev` (all for 0; the live stream's resume) with their JSON texts, oldest first. */
  since(rev: number): Kept[] {
    this.#flush();
    const kept = this.#segments.flatMap((s) =>
      s.revs.flatMap((r, i) =>
        r > rev ? [{ rev: r, json: s.data.toString('utf8', s.ends[i - 1] ?? 0, s.ends[i]), order: s.orders[i]! }] : [],
      ),
    );
    for (const [tx, order] of this.#open) if (tx.rev > rev) kept.push({ rev: tx.rev, json: JSON.stringify(tx), order });
    return kept.sort((a, b) => a.order - b.order);
  }

  /** Oldest first. */
  list(): Transaction[] {
    return this.since(0).map((k) => JSON.parse(k.json) as Transaction);
  }

  /** By id: the open ones, then a search of the ring's bytes, newest first (the API asks rarely, the request path never). */
  get(id: string): Transaction | undefined {
    this.#flush();
    for (const tx of this.#open.keys()) if (tx.id === id) return JSON.parse(JSON.stringify(tx)) as Transaction;
    const needle = Buffer.from(`"id":${JSON.stringify(id)}`);
    for (const { data, used, ends } of [...this.#segments].reverse()) {
      const bytes = data.subarray(0, used);
      // (A negative offset would count from the end: the search stops at the first byte.)
      for (let at = bytes.lastIndexOf(needle); at >= 0; at = at > 0 ? bytes.lastIndexOf(needle, at - 1) : -1) {
        // The entry holding the match: its id, or another key's value inside it (a log line's field).
        const i = ends.findIndex((end) => end > at);
        const tx = JSON.parse(bytes.toString('utf8', ends[i - 1] ?? 0, ends[i])) as Transaction;
        if (tx.id === id) return tx;
      }
    }
    return undefined;
  }

  /** Finished transactions not yet written into the ring (read without writing them). */
  get waiting(): number {
    return this.#pending.length;
  }

  /** Bytes of JSON the ring holds (the open transactions are the tracker's objects). */
  get bytes(): number {
    this.#flush();
    return this.#segments.reduce((sum, s) => sum + s.used, 0);
  }

  get size(): number {
    this.#flush();
    return this.#segments.reduce((sum, s) => sum + s.ends.length, this.#open.size);
  }
}

/** Artifact bytes by sha256, for replays and new bounties; bounded in bytes, oldest out first. */
export class ArtifactStore {
  readonly #items = new Map<string, { data: Uint8Array; mimetype: string }>();
  #bytes = 0;

  constructor(readonly maxBytes: number) {}

  put(sha256: string, data: Uint8Array, mimetype = 'application/octet-stream'): void {
    if (this.#items.has(sha256) || data.byteLength > this.maxBytes) return;
    this.#items.set(sha256, { data: Uint8Array.from(data), mimetype });
    this.#bytes += data.byteLength;
    for (const [key, item] of this.#items) {
      if (this.#bytes <= this.maxBytes) break;
      this.#items.delete(key);
      this.#bytes -= item.data.byteLength;
    }
  }

  get(sha256: string): { data: Uint8Array; mimetype: string } | undefined {
    return this.#items.get(sha256.toLowerCase());
  }
}
