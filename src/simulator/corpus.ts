/**
 * `test corpus DIR`: how accurate an engine is. Every file under `DIR/malicious/` and `DIR/benign/` (or listed in a
 * labels CSV) is served on loopback and sent as a bounty, N at once; the answers are tallied into a confusion
 * matrix with rates, latencies and the bids staked. Only a small record per file is kept, never an answer's body.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { weiToNct } from '../protocol/bid.js';
import { parseJson } from '../protocol/json.js';
import { UsageError } from '../util/errors.js';
import { readBytes } from '../util/input.js';
import { mapLimit } from '../util/map-limit.js';
import { setDeadline, type DeadlineTimer } from '../util/timers.js';
import { guessMimetype } from './artifacts.js';
import { accepted, dispatchBounty, WATCH_GRACE_MS, withDispatcher } from './dispatch.js';
import type { Dispatcher, DispatchOptions, TrackedBounty } from './dispatch.js';
import type { ReceivedAnswer } from './host.js';
import { LatencyHistogram, type LatencySummary } from './stats.js';
import { parseEngineUrl } from './target.js';

export type Truth = 'malicious' | 'benign';
/** What the engine said about a file; `missing` when it never answered (or refused the bounty). */
export type Outcome = 'malicious' | 'benign' | 'suspicious' | 'unknown' | 'missing';
export const OUTCOMES: readonly Outcome[] = ['malicious', 'benign', 'suspicious', 'unknown', 'missing'];

export interface CorpusEntry {
  /** Path relative to the corpus folder, with `/`. */
  name: string;
  path: string;
  truth: Truth;
}

export interface FileResult {
  name: string;
  truth: Truth;
  outcome: Outcome;
  /** Wei, as digits; null without an Assertion bid. */
  bid: string | null;
  /** 202 → first answer, ms; null when unanswered. */
  latencyMs: number | null;
  /** Answered after its expiration, or answered unknown for a timeout. */
  timedOut: boolean;
  answeredTwice: boolean;
  /** Why it is missing: the HTTP status or network error, when the bounty was not accepted. */
  refused?: string;
  /** Why it was answered unknown: the answer's metadata.comments (`ERROR:…`, `SKIPPED:…`), joined with `; `. */
  reason?: string;
}

export interface CorpusReport {
  files: number;
  matrix: Record<Truth, Record<Outcome, number>>;
  /** Fractions 0..1 (null when there is nothing to divide by). */
  detectionRate: number | null;
  falsePositiveRate: number | null;
  unknownRate: number | null;
  timeouts: number;
  missing: number;
  answeredTwice: number;
  latency: LatencySummary;
  latencyBins: { from: number; to: number; count: number }[];
  /** Sum of the bids on assertions that were right / wrong, in NCT (decimal string, exact). */
  bidsRightNct: string;
  bidsWrongNct: string;
  slowest: { name: string; latencyMs: number }[];
  misjudged: { name: string; truth: Truth; outcome: Outcome }[];
  /** The files answered unknown, with the reason the engine gave ("no reason given" when its comments were empty). */
  unknowns: { name: string; truth: Truth; reason: string }[];
}

export interface CorpusOptions extends DispatchOptions {
  url: string;
  dir: string;
  /** A CSV of `path or sha256,label`. */
  labels?: string;
  concurrency?: number;
  expirationMs?: number;
  /** Called after each file with how many are done. */
  onProgress?: (done: number, total: number) => void;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out.sort();
}

const posix = (path: string) => path.split(sep).join('/');

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The labelled files: `dir/malicious/**` and `dir/benign/**`, or the rows of a labels CSV. */
export async function collectCorpus(dir: string, labels?: string): Promise<CorpusEntry[]> {
  const root = resolve(dir);
  const info = await stat(root).catch(() => null);
  if (!info?.isDirectory()) throw new UsageError(`${dir}: no such folder`);
  if (labels === undefined) {
    const entries: CorpusEntry[] = [];
    for (const truth of ['malicious', 'benign'] as const) {
      const sub = join(root, truth);
      if (!(await stat(sub).catch(() => null))?.isDirectory()) continue;
      for (const path of await walk(sub)) entries.push({ name: posix(relative(root, path)), path, truth });
    }
    if (entries.length === 0) {
      throw new UsageError(`${dir}: no files under ${join(dir, 'malicious')}/ or ${join(dir, 'benign')}/`, {
        hint: 'Put the files in those two subfolders, or label them with --labels FILE.csv (rows of: path or sha256,malicious|benign).',
      });
    }
    return entries;
  }
  const rows = (await readBytes(labels, `--labels ${labels}`))
    .toString('utf8')
    .split(/\r?\n/)
    .map((line, i) => ({ line: i + 1, cells: line.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1')) }));
  let byHash: Map<string, string> | null = null;
  const entries: CorpusEntry[] = [];
  for (const { line, cells } of rows) {
    if (cells.length === 1 && cells[0] === '') continue;
    const [key, rawLabel] = cells;
    const label = (rawLabel ?? '').toLowerCase();
    if (label !== 'malicious' && label !== 'benign') {
      if (line === 1 && entries.length === 0) continue; // a header row
      throw new UsageError(
        `--labels ${labels}:${line}: expected "path or sha256,malicious|benign", got ${JSON.stringify(cells.join(','))}`,
      );
    }
    let path: string | undefined;
    if (/^[0-9a-f]{64}$/i.test(key)) {
      byHash ??= new Map(await Promise.all((await walk(root)).map(async (p) => [await sha256File(p), p] as [string, string])));
      path = byHash.get(key.toLowerCase());
      if (path === undefined) throw new UsageError(`--labels ${labels}:${line}: no file under ${dir} has sha256 ${key}`);
    } else {
      path = resolve(root, key);
      if (!(await stat(path).catch(() => null))?.isFile())
        throw new UsageError(`--labels ${labels}:${line}: no such file ${key} under ${dir}`);
    }
    entries.push({ name: posix(relative(root, path)), path, truth: label });
  }
  if (entries.length === 0) throw new UsageError(`--labels ${labels}: no labelled rows`);
  return entries;
}

/** The first 4 KiB of a file: enough for guessMimetype's magic bytes and text check. */
async function headOf(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(path, { end: 4095 })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The first answer's verdict and bid, from its raw bytes (bids exact); anything unreadable counts as missing. */
function readAnswer(answer: ReceivedAnswer): { outcome: Outcome; bid: bigint | null; timeout: boolean; comments: string[] } {
  const json = parseJson(answer.bytes);
  if (!json.ok || json.value === null || typeof json.value !== 'object')
    return { outcome: 'missing', bid: null, timeout: false, comments: [] };
  const record = json.value as { verdict?: unknown; bid?: unknown; metadata?: { comments?: unknown } };
  const verdict = typeof record.verdict === 'string' ? record.verdict.toLowerCase() : '';
  const outcome = (['malicious', 'benign', 'suspicious', 'unknown'] as const).find((v) => v === verdict) ?? 'missing';
  const exact = typeof record.bid === 'bigint' || (typeof record.bid === 'number' && Number.isSafeInteger(record.bid));
  const bid = exact ? BigInt(record.bid as bigint | number) : null;
  const comments = Array.isArray(record.metadata?.comments) ? record.metadata.comments.map(String) : [];
  return { outcome, bid, timeout: outcome === 'unknown' && comments.some((c) => /timeout/i.test(c)), comments };
}

/** Sends one file as a bounty and waits for its first answer (and a moment for a second one), or its expiration. */
async function runFile(d: Dispatcher, entry: CorpusEntry, expirationMs: number): Promise<FileResult> {
  const size = (await stat(entry.path)).size;
  const sha256 = await sha256File(entry.path);
  const mimetype = guessMimetype(await headOf(entry.path), basename(entry.path));
  const uri = d.host.host({ path: entry.path, size, mimetype });
  let first: ReturnType<typeof readAnswer> | null = null;
  let answered: () => void = () => undefined;
  const gotFirst = new Promise<void>((resolveFirst) => (answered = resolveFirst));
  const tracked: TrackedBounty = await dispatchBounty(d, { uri, sha256, mimetype }, expirationMs, (_t, answer) => {
    if (first === null) {
      first = readAnswer(answer);
      answered();
    }
  });
  const result: FileResult = {
    name: entry.name,
    truth: entry.truth,
    outcome: 'missing',
    bid: null,
    latencyMs: null,
    timedOut: false,
    answeredTwice: false,
  };
  if (!accepted(tracked)) {
    result.refused = tracked.status === undefined ? `no HTTP answer (${tracked.error})` : `HTTP ${tracked.status}`;
  } else {
    let timer: DeadlineTimer | undefined;
    await Promise.race([gotFirst, new Promise<void>((r) => (timer = setDeadline(tracked.expiration + WATCH_GRACE_MS, r)))]);
    timer?.cancel();
    // A moment for a second answer, so "answered twice" is seen.
    if (first !== null) await sleep(200);
    const got = first as ReturnType<typeof readAnswer> | null;
    if (got !== null) {
      result.outcome = got.outcome;
      result.bid = got.bid === null ? null : got.bid.toString();
      result.latencyMs = Math.max(0, tracked.firstAnswerTick! - tracked.sentTick - (tracked.ackMs ?? 0));
      result.timedOut = got.timeout || tracked.late;
      result.answeredTwice = tracked.answers > 1;
      if (got.outcome === 'unknown') result.reason = got.comments.join('; ') || 'no reason given';
    }
  }
  d.host.releaseAnswerUrl(tracked.responseUrl);
  d.host.unhost(uri);
  return result;
}

export async function runCorpus(options: CorpusOptions): Promise<{ report: CorpusReport; results: FileResult[] }> {
  const url = parseEngineUrl(options.url);
  const entries = await collectCorpus(options.dir, options.labels);
  const results: FileResult[] = new Array(entries.length);
  let done = 0;
  await withDispatcher(url, options, (d) =>
    mapLimit([...entries.keys()], options.concurrency ?? 4, async (index) => {
      results[index] = await runFile(d, entries[index], options.expirationMs ?? 30_000);
      options.onProgress?.(++done, entries.length);
    }),
  );
  return { report: summarize(results), results };
}

const ratio = (n: number, of: number) => (of === 0 ? null : n / of);

export function summarize(results: FileResult[]): CorpusReport {
  const row = () => Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  const matrix: Record<Truth, Record<Outcome, number>> = { malicious: row(), benign: row() };
  const latency = new LatencyHistogram();
  let right = 0n;
  let wrong = 0n;
  for (const r of results) {
    matrix[r.truth][r.outcome]++;
    if (r.latencyMs !== null) latency.record(r.latencyMs);
    if (r.bid !== null && (r.outcome === 'malicious' || r.outcome === 'benign')) {
      if (r.outcome === r.truth) right += BigInt(r.bid);
      else wrong += BigInt(r.bid);
    }
  }
  const malicious = results.filter((r) => r.truth === 'malicious').length;
  const benign = results.length - malicious;
  return {
    files: results.length,
    matrix,
    detectionRate: ratio(matrix.malicious.malicious, malicious),
    falsePositiveRate: ratio(matrix.benign.malicious, benign),
    unknownRate: ratio(matrix.malicious.unknown + matrix.benign.unknown, results.length),
    timeouts: results.filter((r) => r.timedOut).length,
    missing: matrix.malicious.missing + matrix.benign.missing,
    answeredTwice: results.filter((r) => r.answeredTwice).length,
    latency: latency.summary(),
    latencyBins: latency.bins(10),
    bidsRightNct: weiToNct(right),
    bidsWrongNct: weiToNct(wrong),
    slowest: results
      .filter((r) => r.latencyMs !== null)
      .sort((a, b) => b.latencyMs! - a.latencyMs!)
      .slice(0, 5)
      .map((r) => ({ name: r.name, latencyMs: r.latencyMs! })),
    misjudged: results
      .filter((r) => (r.outcome === 'malicious' || r.outcome === 'benign') && r.outcome !== r.truth)
      .map((r) => ({ name: r.name, truth: r.truth, outcome: r.outcome })),
    unknowns: results
      .filter((r) => r.outcome === 'unknown')
      .map((r) => ({ name: r.name, truth: r.truth, reason: r.reason ?? 'no reason given' })),
  };
}
