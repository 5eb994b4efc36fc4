/**
 * The `serve` inspector's model: the transactions seen (engine/observer.ts events, put together by
 * TransactionTracker), the live stream's subscribers, and what the page can do with a transaction — replay it
 * (byte for byte, re-signed, or edited and re-signed) or send a new bounty. Replays and new bounties are answered
 * to the inspector's own receiver and, when the inspector holds the artifact, download it from the inspector: a
 * replay reaches nothing outside this machine. The HTTP side is server.ts.
 */
import { randomUUID } from 'node:crypto';
import { parseJson, stringifyJson } from '../protocol/json.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER } from '../protocol/events.js';
import { sign } from '../protocol/signature.js';
import { buildBountyWire, randomBountyId } from '../simulator/bounty.js';
import { artifactOf, eicarArtifact, guessMimetype } from '../simulator/artifacts.js';
import { send } from '../simulator/http.js';
import { ArtifactStore, History } from './history.js';
import { decodeBody, TransactionTracker, type Transaction, type TransactionSource } from './transaction.js';

export type ReplayMode = 'exact' | 'resigned' | 'edited';

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
  readonly #subscribers = new Set<(tx: Transaction, json: string) => void>();
  /** Sources of the deliveries the inspector itself sent, by delivery id, until the engine reports them. */
  readonly #sources = new Map<string, TransactionSource>();
  #engineUrl = '';
  #base = '';

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
      onArtifact: (sha256, data) => this.artifacts.put(sha256, data),
    });
  }

  /** Where the engine listens (replays go there) and where the inspector's receiver is (after both listen). */
  setUrls(engineUrl: string, inspectorBase: string): void {
    this.#engineUrl = engineUrl;
    this.#base = inspectorBase.replace(/\/$/, '');
  }

  get engineUrl(): string {
    return this.#engineUrl;
  }

  /** `listener` gets each transaction created or changed, with its JSON text. */
  subscribe(listener: (tx: Transaction, json: string) => void): () => void {
    this.#subscribers.add(listener);
    return () => this.#subscribers.delete(listener);
  }

  #publish(tx: Transaction): void {
    const json = this.history.put(tx);
    for (const listener of this.#subscribers) listener(tx, json);
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
    const wire = { ...(parsed.value as Record<string, unknown>) };
    const lifetime = lifetimeMs(wire) ?? 30_000;
    const now = Date.now();
    if ('guid' in wire && !('id' in wire)) wire.guid = randomUUID();
    else wire.id = typeof wire.id === 'string' ? randomBountyId().toString() : randomBountyId();
    wire.expiration = new Date(now + lifetime).toISOString();
    if ('tasked_at' in wire) wire.tasked_at = new Date(now).toISOString();
    wire.response_url = this.answerUrl();
    const sha = typeof wire.sha256 === 'string' ? wire.sha256.toLowerCase() : '';
    if (sha && this.artifacts.get(sha)) {
      if ('artifact_url' in wire && !('artifact_uri' in wire)) wire.artifact_url = `${this.#base}/receiver/artifacts/${sha}`;
      else wire.artifact_uri = `${this.#base}/receiver/artifacts/${sha}`;
    }
    return stringifyJson(wire);
  }

  /** A fresh URL on the inspector's receiver. */
  answerUrl(): string {
    const token = randomUUID();
    return `${this.#base}/receiver/answers/${token}`;
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
      artifactUri: `${this.#base}/receiver/artifacts/${artifact.sha256}`,
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
      this.#publish({ ...tx, id: `${batch}-${count}`, source: 'import', rev: this.tracker.nextRev() });
    }
    return count;
  }

  async #signedPost(body: Buffer, event: string, source: TransactionSource) {
    const delivery = randomUUID();
    const headers = {
      'content-type': 'application/json',
      [EVENT_HEADER.toLowerCase()]: event,
      [DELIVERY_HEADER.toLowerCase()]: delivery,
      [SIGNATURE_HEADER.toLowerCase()]: sign(this.options.secret, body),
    };
    return this.#post(body, headers, source, delivery);
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

/** A bounty's lifetime from tasking (or `duration`) to expiration, in ms, when the body says. */
function lifetimeMs(wire: Record<string, unknown>): number | undefined {
  const expiration = typeof wire.expiration === 'string' ? Date.parse(wire.expiration) : NaN;
  const tasked = typeof wire.tasked_at === 'string' ? Date.parse(wire.tasked_at) : NaN;
  if (!Number.isNaN(expiration) && !Number.isNaN(tasked) && expiration > tasked) return Math.min(expiration - tasked, 10 * 60_000);
  const duration = Number(wire.duration);
  if (Number.isFinite(duration) && duration > 0) return Math.min(duration * 1000, 10 * 60_000);
  return undefined;
}
