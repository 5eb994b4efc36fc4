/**
 * `polyswarm-engine test replay FILE`: sends the bounties of a recording (`start --record`) or an inspector export
 * to an engine and compares its verdicts with the recorded ones. By default each bounty is made local and current —
 * artifact served by the simulator from `--artifacts DIR` (by sha256), answer caught by its receiver, expiration
 * moved forward by the bounty's original lifetime, a new id so the engine does not take it for a duplicate — and signed with the target's secret. A bounty whose artifact was
 * not recorded, or whose artifact is a URL, is skipped: nothing is ever fetched from production. `--exact` sends
 * the recorded bytes and signature unchanged (no answer can be caught then: it goes where the recording says).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { weiToNct } from '../protocol/bid.js';
import { parseBountyBody } from '../protocol/bounty.js';
import { signedHeaders } from '../protocol/events.js';
import { parseJson, stringifyJson } from '../protocol/json.js';
import { UsageError } from '../util/errors.js';
import { mapLimit } from '../util/map-limit.js';
import { guessMimetype } from './artifacts.js';
import { reaimBounty } from './bounty.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { SimulatorHost } from './host.js';
import { send } from './http.js';
import { decodeBody, type Transaction } from './recording.js';

export type DiffClass = 'changed' | 'same' | 'unknown' | 'missing' | 'skipped';

export interface DiffEntry {
  bounty: string;
  class: DiffClass;
  recorded: { verdict: string; bid: string } | null;
  now: { verdict: string; bid: string } | null;
  /** The engine's acknowledgement status (null when not sent). */
  status: number | null;
  note?: string;
}

export interface ReplayOptions {
  /** One recording, or several read together (a web process's and its workers'). */
  file: string | readonly string[];
  url: string;
  secret: string;
  exact: boolean;
  artifactsDir?: string;
  concurrency: number;
  /** Bounties started per second (undefined: as fast as the concurrency allows). */
  rate?: number;
  timeoutMs: number;
  onEntry?(entry: DiffEntry): void;
}

export interface ReplayReport {
  entries: DiffEntry[];
  counts: Record<DiffClass, number>;
}

/**
 * The accepted bounties of one or more recordings, in order; other lines (pings, refusals, duplicates) are not
 * replayed. With a shared Redis queue, the web process (`start --record`) records each delivery and the workers
 * (`worker --record`) the answers: given together, a delivery takes its answer from the worker's line for the same
 * bounty and phase. A worker's line with no delivery beside it is replayed on its own (its body as the queue held it).
 */
export function readRecording(files: string | readonly string[]): Transaction[] {
  const list: Transaction[] = [];
  const byKey = new Map<string, Transaction>();
  const fromWorkers: Transaction[] = [];
  for (const file of typeof files === 'string' ? [files] : files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
    }
    text.split('\n').forEach((line, index) => {
      if (line.trim() === '') return;
      const parsed = parseJson(line);
      const tx = parsed.ok ? (parsed.value as Transaction) : null;
      if (!tx || typeof tx !== 'object' || typeof tx.request?.body !== 'string') {
        throw new UsageError(
          `${file} line ${index + 1}: not a recorded delivery (expected a JSON line from start --record, worker --record or the inspector's export)`,
        );
      }
      if (tx.event !== 'bounty' || tx.response?.status !== 202 || tx.response.duplicate) return;
      if (tx.source === 'queue') fromWorkers.push(tx);
      else {
        list.push(tx);
        if (tx.key) byKey.set(tx.key, tx);
      }
    });
  }
  // A job taken twice (handed back at a worker's stop, whose answer was then refused) has one line per attempt: the
  // answer that was delivered counts, else the first there is.
  const better = (candidate: Transaction, current: Transaction | undefined) =>
    candidate.answer !== undefined && (!current?.answer || (!current.answer.delivered && candidate.answer.delivered));
  const alone = new Map<string, Transaction>();
  for (const tx of fromWorkers) {
    const delivery = tx.key ? byKey.get(tx.key) : undefined;
    if (delivery) {
      if (better(tx, delivery)) Object.assign(delivery, { answer: tx.answer, download: tx.download, scan: tx.scan });
      continue;
    }
    const key = tx.key ?? tx.id;
    const earlier = alone.get(key);
    if (!earlier) {
      alone.set(key, tx);
      list.push(tx);
    } else if (better(tx, earlier)) {
      alone.set(key, tx);
      list[list.indexOf(earlier)] = tx;
    }
  }
  return list;
}

function verdictOf(body: Buffer): { verdict: string; bid: string } | null {
  const parsed = parseJson(body);
  if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) return null;
  const value = parsed.value as Record<string, unknown>;
  return typeof value.verdict === 'string' ? { verdict: value.verdict, bid: String(value.bid ?? 0) } : null;
}

function classify(recorded: DiffEntry['recorded'], now: DiffEntry['now']): DiffClass {
  if (now === null) return 'missing';
  if (recorded === null || recorded.verdict === 'unknown' || now.verdict === 'unknown')
    return recorded?.verdict === now.verdict ? 'same' : 'unknown';
  return recorded.verdict === now.verdict ? 'same' : 'changed';
}

export async function replayRecording(options: ReplayOptions): Promise<ReplayReport> {
  const list = readRecording(options.file);
  const host = new SimulatorHost();
  await host.start();
  const entries: DiffEntry[] = new Array(list.length);
  let lastStart = 0;
  const gap = options.rate ? 1000 / options.rate : 0;
  try {
    await mapLimit([...list.keys()], options.concurrency, async (index) => {
      if (gap > 0) {
        const wait = lastStart + gap - Date.now();
        lastStart = Math.max(Date.now(), lastStart + gap);
        if (wait > 0) await sleep(wait);
      }
      entries[index] = await replayOne(list[index]!, host, options);
      options.onEntry?.(entries[index]);
    });
  } finally {
    await host.close();
  }
  const counts: Record<DiffClass, number> = { changed: 0, same: 0, unknown: 0, missing: 0, skipped: 0 };
  for (const e of entries) counts[e.class]++;
  return { entries, counts };
}

async function replayOne(tx: Transaction, host: SimulatorHost, options: ReplayOptions): Promise<DiffEntry> {
  const body = decodeBody(tx.request);
  const recorded = tx.answer ? { verdict: tx.answer.verdict, bid: tx.answer.bid } : null;
  // Keys in the order --json has always printed them.
  const entry = (rest: Pick<DiffEntry, 'class'> & Partial<DiffEntry>): DiffEntry =>
    Object.assign({ bounty: tx.bounty ?? '?', recorded, class: rest.class, now: null, status: null }, rest);
  const url = new URL(options.url);
  if (options.exact) {
    if (tx.source === 'queue') return entry({ class: 'skipped', note: 'recorded by a worker: no signature to send exactly' });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(tx.request.headers))
      if (name !== 'content-length' && name !== 'transfer-encoding') headers[name] = value;
    const status = await post(url, body, headers, options.timeoutMs);
    const note = status === 401 ? 'signature refused' : 'sent exactly: its answer goes to the recorded response_url';
    return entry({ class: 'missing', status, note });
  }
  const parsed = parseBountyBody(body);
  if (!parsed.ok) return entry({ class: 'skipped', note: 'not a valid bounty' });
  const bounty = parsed.value;
  if (bounty.artifact_type !== 'file') return entry({ class: 'skipped', note: 'URL artifact: replaying it would reach the recorded site' });
  const bytes = bounty.sha256 && options.artifactsDir ? readArtifact(options.artifactsDir, bounty.sha256) : null;
  if (!bytes) return entry({ class: 'skipped', note: options.artifactsDir ? 'artifact not recorded' : 'no --artifacts folder' });
  const answerUrl = host.answerUrl();
  const wire = reaimBounty((parseJson(body) as { value: Record<string, unknown> }).value, {
    responseUrl: answerUrl,
    artifactUrl: host.host({ bytes, mimetype: bounty.mimetype ?? guessMimetype(bytes) }),
  });
  const expiration = Date.parse(wire.expiration as string);
  const signed = Buffer.from(stringifyJson(wire), 'utf8');
  const status = await post(url, signed, signedHeaders(options.secret, signed, 'bounty'), options.timeoutMs);
  if (status !== 202)
    return entry({ class: 'missing', status, note: status === null ? 'engine unreachable' : `engine answered ${status}` });
  const answers = await host.waitForAnswers(answerUrl, expiration, 0);
  const now = answers[0] ? verdictOf(answers[0].bytes) : null;
  const note = now === null ? { note: answers[0] ? 'answer unreadable' : 'no answer before the expiration' } : {};
  return entry({ class: classify(recorded, now), now, status, ...note });
}

function readArtifact(dir: string, sha256: string): Buffer | null {
  try {
    return readFileSync(join(dir, sha256));
  } catch {
    return null;
  }
}

async function post(url: URL, body: Buffer, headers: Record<string, string>, timeoutMs: number): Promise<number | null> {
  return send(url, { headers, body, timeoutMs }).then(
    (res) => res.status,
    () => null,
  );
}

const show = (v: DiffEntry['recorded']) => (v === null ? '—' : `${v.verdict}${v.bid !== '0' ? ` (${weiToNct(v.bid)} NCT)` : ''}`);

/** One line of the text report. */
export function formatEntry(entry: DiffEntry): string {
  return `${entry.class.padEnd(8)} ${entry.bounty}  ${show(entry.recorded)} → ${show(entry.now)}${entry.note ? `  (${entry.note})` : ''}\n`;
}

export function formatCounts(report: ReplayReport): string {
  const c = report.counts;
  return `\n${report.entries.length} bounties: ${c.changed} changed, ${c.same} same, ${c.unknown} unknown, ${c.missing} missing, ${c.skipped} skipped\n`;
}
