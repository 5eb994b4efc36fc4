/**
 * The inspector's history: transactions in arrival order, bounded in bytes (`--inspector-history`). When a new or
 * grown transaction passes the bound, the oldest go first. Artifacts kept for replay are bounded the same way.
 */
import { transactionBytes, type Transaction } from './transaction.js';

export class History {
  readonly #items = new Map<string, { tx: Transaction; bytes: number }>();
  #bytes = 0;

  constructor(readonly maxBytes: number) {}

  /** Adds or re-measures `tx`, then drops the oldest until the history fits. */
  put(tx: Transaction): void {
    const bytes = transactionBytes(tx);
    const known = this.#items.get(tx.id);
    if (known) {
      this.#bytes += bytes - known.bytes;
      known.bytes = bytes;
    } else {
      this.#items.set(tx.id, { tx, bytes });
      this.#bytes += bytes;
    }
    for (const [id, item] of this.#items) {
      if (this.#bytes <= this.maxBytes || id === tx.id) break;
      this.#items.delete(id);
      this.#bytes -= item.bytes;
    }
  }

  get(id: string): Transaction | undefined {
    return this.#items.get(id)?.tx;
  }

  /** Oldest first. */
  list(): Transaction[] {
    return [...this.#items.values()].map((i) => i.tx);
  }

  /** Changed since `rev` (the live stream's resume), oldest first. */
  since(rev: number): Transaction[] {
    return this.list().filter((tx) => tx.rev > rev);
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#items.size;
  }

  clear(): void {
    this.#items.clear();
    this.#bytes = 0;
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
