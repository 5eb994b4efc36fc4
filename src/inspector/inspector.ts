/**
 * The `serve` inspector's model: the transactions seen (engine/observer.ts events, put together by
 * TransactionTracker), the live stream's subscribers, and what the page can do with a transaction — replay it
 * (byte for byte, re-signed, or edited and re-signed) or send a new bounty. Replays and new bounties are answered
 * to the simulator's host (simulator/host.ts, on loopback) and, when the inspector holds the artifact, download it
 * from there: a replay reaches nothing outside this machine. The HTTP side is server.ts.
 */
import { randomUUID } from 'node:crypto';
import { parseJson, stringifyJson } from '../protocol/json.js';
import { signedHeaders } from '../protocol/events.js';
import { buildBountyWire, reaimBounty } from '../simulator/bounty.js';
import { artifactOf, eicarArtifact, guessMimetype } from '../simulator/artifacts.js';
import { SimulatorHost } from '../simulator/host.js';
import { send } from '../simulator/http.js';
import { ArtifactStore, History } from './history.js';
import { decodeBody, type Transaction, type TransactionSource } from '../simulator/recording.js';
import { TransactionTracker } from './transaction.js';

export type ReplayMode = 'exact' | 'resigned' | 'edited';

/** A transaction as the live stream sends it: its JSON text and the rev of the change. */
export type Change = { rev: number; json: string };

export interface InspectorOptions {
  /** The secret replays and new bounties are signed with (the engine's current one). */
  secret: string;
  /** History bound in bytes. */
  maxBytes: number;
  /** Bytes of a request body kept per transaction. */
  maxBodyBytes: number;
}

export interface SendOptions {
  /** The artifact: EICAR when absent. */
  file?: { name: string; bytes: Uint8Array };
  expirationMs: number;
  phase: 'assertion' | 'arbitration';
}

export class Inspector {
  readonly history: History;
  readonly artifacts: ArtifactStore;
  readonly tracker: TransactionTracker;
  readonly #subscribers = new Set<(batch: Change[]) => void>();
  /** Changes since the last turn, for the live stream (only while a page watches), with the rev each made. */
  #changes: [Transaction, number][] = [];
  /** Sources of the deliveries the inspector itself sent, by delivery id, until the engine reports them. */
  readonly #sources = new Map<string, TransactionSource>();
  /** Serves the artifacts the inspector holds (by sha256) and acknowledges the answers of replays and new bounties. */
  readonly #host: SimulatorHost;
  #engineUrl = '';

  constructor(readonly options: InspectorOptions) {
    this.history = new History(options.maxBytes);
    this.artifacts = new ArtifactStore(Math.max(1024 * 1024, Math.floor(options.maxBytes / 2)));
    this.tracker = new TransactionTracker({
      maxBodyBytes: options.maxBodyBytes,
      sourceOf: (delivery) => {
        if (delivery === null) return undefined;
        const source = this.#sources.get(delivery);
        this.#sources.delete(delivery);
        return source;
      },
      onChange: (tx) => this.#publish(tx),
      onComplete: (tx) => this.history.put(tx),
      onArtifact: (sha256, data) => this.artifacts.put(sha256, data),
    });
    this.#host = new SimulatorHost(
      {},
      {
        artifacts: (sha256) => {
          const held = this.artifacts.get(sha256);
          return held ? { bytes: held.data, mimetype: held.mimetype } : undefined;
        },
        anyAnswer: true,
      },
    );
  }

  /** Starts the host replays use, and remembers where the engine listens (replays go there). */
  async connect(engineUrl: string): Promise<void> {
    await this.#host.start();
    this.#engineUrl = engineUrl;
  }

  async close(): Promise<void> {
    if (this.#host.baseUrl) await this.#host.close();
  }

  #artifactUrl(sha256: string): string {
    return `${this.#host.baseUrl}/artifacts/${sha256}`;
  }

  get engineUrl(): string {
    return this.#engineUrl;
  }

  /** `listener` gets the transactions created or changed, as JSON, once a turn of the event loop, in the order they changed. */
  subscribe(listener: (batch: Change[]) => void): () => void {
    this.#subscribers.add(listener);
    return () => this.#subscribers.delete(listener);
  }

  /** A transaction created or changed; a watching page gets it on the next turn, serialized once however often it changed. */
  #publish(tx: Transaction): void {
    this.history.open(tx);
    if (this.#subscribers.size > 0 && this.#changes.push([tx, tx.rev]) === 1) setImmediate(() => this.#broadcast());
  }

  #broadcast(): void {
    const texts = new Map<Transaction, string>();
    const json = (tx: Transaction) => texts.get(tx) ?? texts.set(tx, JSON.stringify(tx)).get(tx)!;
    const batch = this.#changes.splice(0).map(([tx, rev]) => ({ rev, json: json(tx) }));
    for (const listener of this.#subscribers) listener(batch);
  }

  /**
   * The body a re-signed replay sends: the recorded bounty made current — a new id (so the engine does not answer it
   * as a duplicate), the expiration moved forward by the bounty's original lifetime, the answer pointed at the
   * inspector's receiver and, when the inspector holds the artifact, the download too. Other events: unchanged.
   */
  draft(tx: Transaction): string {
    const text = decodeBody(tx.request).toString('utf8');
    if (tx.event !== 'bounty') return text;
    const parsed = parseJson(text);
    if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) return text;
    const wire = parsed.value as Record<string, unknown>;
    const sha = typeof wire.sha256 === 'string' ? wire.sha256.toLowerCase() : '';
    const artifactUrl = sha && this.artifacts.get(sha) ? this.#artifactUrl(sha) : undefined;
    return stringifyJson(reaimBounty(wire, { responseUrl: this.answerUrl(), artifactUrl }));
  }

  /** A fresh answer URL on the inspector's host (which acknowledges any answer; the engine reports what it posted). */
  answerUrl(): string {
    return `${this.#host.baseUrl}/answers/${randomUUID()}`;
  }

  /** Sends a recorded transaction again; resolves with the engine's status (the transaction itself streams in). */
  async replay(tx: Transaction, mode: ReplayMode, editedBody?: string): Promise<{ status: number; delivery: string }> {
    if (mode === 'exact') {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(tx.request.headers)) {
        if (name !== 'content-length' && name !== 'transfer-encoding') headers[name] = value;
      }
      const delivery = headers['x-polyswarm-delivery'] ?? randomUUID();
      return this.#post(decodeBody(tx.request), headers, 'replay-exact', delivery);
    }
    const body = mode === 'edited' ? (editedBody ?? '') : this.draft(tx);
    return this.#signedPost(Buffer.from(body, 'utf8'), tx.event ?? 'bounty', mode === 'edited' ? 'replay-edited' : 'replay-resigned');
  }

  /** Builds, hosts and sends a new bounty (EICAR or an uploaded file). */
  async sendBounty(options: SendOptions): Promise<{ status: number; delivery: string }> {
    const artifact = options.file ? artifactOf(options.file.bytes, guessMimetype(options.file.bytes, options.file.name)) : eicarArtifact();
    this.artifacts.put(artifact.sha256, artifact.bytes, artifact.mimetype);
    const wire = buildBountyWire({
      artifactType: 'file',
      artifactUri: this.#artifactUrl(artifact.sha256),
      sha256: artifact.sha256,
      mimetype: artifact.mimetype,
      responseUrl: this.answerUrl(),
      expiration: new Date(Date.now() + options.expirationMs),
      phase: options.phase,
    });
    return this.#signedPost(Buffer.from(stringifyJson(wire), 'utf8'), 'bounty', 'send');
  }

  /** Adds transactions from an export or a recording (JSON lines); returns how many were read. */
  import(text: string): number {
    let count = 0;
    const batch = `import-${Date.now().toString(36)}`;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const parsed = parseJson(line);
      if (!parsed.ok) throw new Error(`line ${count + 1}: ${parsed.error}`);
      const tx = parsed.value as Transaction;
      if (typeof tx !== 'object' || tx === null || typeof tx.request?.body !== 'string' || typeof tx.response?.status !== 'number') {
        throw new Error(`line ${count + 1}: not a transaction (needs request.body and response.status)`);
      }
      count++;
      const imported: Transaction = { ...tx, id: `${batch}-${count}`, source: 'import', rev: this.tracker.nextRev() };
      this.#publish(imported);
      this.history.put(imported);
    }
    return count;
  }

  async #signedPost(body: Buffer, event: string, source: TransactionSource) {
    const delivery = randomUUID();
    return this.#post(body, signedHeaders(this.options.secret, body, event, { deliveryId: delivery }), source, delivery);
  }

  async #post(body: Buffer, headers: Record<string, string>, source: TransactionSource, delivery: string) {
    if (!this.#engineUrl) throw new Error('the engine is not listening yet');
    this.#sources.set(delivery, source);
    try {
      const response = await send(new URL(this.#engineUrl), { headers, body, timeoutMs: 10_000 });
      return { status: response.status, delivery };
    } finally {
      // Reported by the engine before it answered; a request that never reached it leaves nothing behind.
      this.#sources.delete(delivery);
    }
  }
}
