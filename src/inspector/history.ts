/**
 * The inspector's history: transactions in arrival order, bounded in bytes (`--inspector-history`). When a new or
 * grown transaction passes the bound, the oldest go first. Artifacts kept for replay are bounded the same way.
 */
import type { Transaction } from '../simulator/recording.js';

/** Where an open transaction sits in the history: on the object itself (JSON leaves symbol keys out). */
const SLOT = Symbol('history entry');
type Slotted = Transaction & { [SLOT]?: Entry };

/**
 * Each transaction is kept as its JSON text: one flat string per transaction instead of a tree of small objects,
 * which the garbage collector would otherwise trace and copy on every collection (with a few thousand kept, that
 * cost the request path more than everything else the inspector does). Its size is then known: 2 bytes per
 * character (V8 stores a string with any non-Latin-1 character at 2 bytes each) plus the entry.
 */
export class History {
  /** Arrival order, oldest at `#head`; evicted slots are cleared and the array compacted now and then. */
  #order: (Entry | undefined)[] = [];
  #head = 0;
  #size = 0;
  #bytes = 0;

  constructor(readonly maxBytes: number) {}

  /** Adds or updates `tx`, then drops the oldest until the history fits (never `tx` itself); returns its JSON. */
  put(tx: Transaction): string {
    const json = JSON.stringify(tx);
    const bytes = ENTRY_BYTES + 2 * json.length;
    const slotted = tx as Slotted;
    const known = slotted[SLOT];
    if (known && !known.evicted) {
      this.#bytes += bytes - known.bytes;
      known.bytes = bytes;
      known.json = json;
      known.rev = tx.rev;
    } else {
      const entry: Entry = { id: tx.id, rev: tx.rev, json, bytes, evicted: false };
      slotted[SLOT] = entry;
      this.#order.push(entry);
      this.#size++;
      this.#bytes += bytes;
    }
    const newest = slotted[SLOT]!;
    while (this.#bytes > this.maxBytes && this.#head < this.#order.length - 1) {
      const oldest = this.#order[this.#head];
      this.#order[this.#head++] = undefined;
      if (oldest && oldest !== newest) {
        oldest.evicted = true;
        this.#size--;
        this.#bytes -= oldest.bytes;
      } else if (oldest) {
        this.#order.push(oldest);
      }
    }
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
    return json;
  }

  /** By id: a scan from the newest (the API asks rarely; the request path never does). */
  get(id: string): Transaction | undefined {
    for (let i = this.#order.length - 1; i >= this.#head; i--) {
      const entry = this.#order[i];
      if (entry?.id === id) return JSON.parse(entry.json) as Transaction;
    }
    return undefined;
  }

  /** Oldest first. */
  list(): Transaction[] {
    return this.#entries().map((e) => JSON.parse(e.json) as Transaction);
  }

  /** The JSON texts changed since `rev` (the live stream's resume), oldest first. */
  since(rev: number): string[] {
    return this.#entries()
      .filter((e) => e.rev > rev)
      .map((e) => e.json);
  }

  #entries(): Entry[] {
    const list: Entry[] = [];
    for (let i = this.#head; i < this.#order.length; i++) {
      const entry = this.#order[i];
      if (entry) list.push(entry);
    }
    return list;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#size;
  }
}

const ENTRY_BYTES = 96;

interface Entry {
  id: string;
  rev: number;
  json: string;
  bytes: number;
  evicted: boolean;
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
