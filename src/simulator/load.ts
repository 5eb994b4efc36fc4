/**
 * `test load`: how an engine behaves under a stream of bounties. Sends signed bounties at a fixed rate (open loop)
 * or keeps N in flight (closed loop: the next is sent when one is answered) for a duration, then waits for the
 * last answers, and reports acknowledgement and answer latencies, status counts, and the bounties answered never,
 * twice, or after their expiration. Nothing is kept per bounty once it has expired, so a long run stays flat.
 */
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError } from '../util/errors.js';
import { readBytes } from '../util/input.js';
import { setDeadline } from '../util/timers.js';
import { artifactOf, benignArtifact, eicarArtifact, guessMimetype, type Artifact } from './artifacts.js';
import { accepted, dispatchBounty, WATCH_GRACE_MS, withDispatcher } from './dispatch.js';
import type { Dispatcher, DispatchOptions, TrackedBounty } from './dispatch.js';
import { LatencyHistogram, type LatencySummary } from './stats.js';
import { parseEngineUrl } from './target.js';

export type LoadArtifact = 'eicar' | 'benign' | { file: string };

export interface LoadOptions extends DispatchOptions {
  url: string;
  /** Bounties per second (open loop); or */
  rate?: number;
  /** bounties in flight at once (closed loop). */
  concurrency?: number;
  durationMs: number;
  artifact?: LoadArtifact;
  /** Each bounty's expiration, from when it is sent; default 30 s. */
  expirationMs?: number;
  /** After the last answer is in, how long to listen for second answers; default 1 s. */
  settleMs?: number;
  /** Called about once a second while bounties are sent and awaited. */
  onProgress?: (progress: LoadProgress) => void;
}

export interface LoadProgress extends Pick<LoadReport, 'sent' | 'acknowledged' | 'answered' | 'lost'> {
  elapsedMs: number;
  /** p99 answer latency over the last interval, ms (0 when nothing was answered in it). */
  currentP99: number;
}

export interface LoadReport {
  mode: { rate: number } | { concurrency: number };
  /** The whole run, and the part spent sending (the rest waits for the last answers). */
  durationMs: number;
  sendingMs: number;
  sent: number;
  /** 2xx acknowledgements. */
  acknowledged: number;
  status4xx: number;
  /** 5xx other than 503. */
  status5xx: number;
  status503: number;
  networkErrors: number;
  answered: number;
  /** Acknowledged, unexpired, never answered. */
  lost: number;
  answeredTwice: number;
  answeredLate: number;
  answeredPerSecond: number;
  ack: LatencySummary;
  answer: LatencySummary;
  /** Answer latency in log-scale bins, for the histogram. */
  answerBins: { from: number; to: number; count: number }[];
  /** Exit 1: a bounty was lost or answered twice, or none was acknowledged. */
  ok: boolean;
}

async function loadArtifact(choice: LoadArtifact): Promise<Artifact> {
  if (choice === 'eicar') return eicarArtifact();
  if (choice === 'benign') return benignArtifact();
  const bytes = await readBytes(choice.file, `--artifact ${choice.file}`);
  return artifactOf(bytes, guessMimetype(bytes, basename(choice.file)));
}

/** Runs the load and resolves with its report; throws UsageError for options that cannot run. */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const url = parseEngineUrl(options.url);
  if ((options.rate === undefined) === (options.concurrency === undefined)) {
    throw new UsageError('choose one of --rate N (bounties per second) or --concurrency N (bounties in flight)');
  }
  if (options.durationMs <= 0) throw new UsageError('--duration must be more than 0');
  const artifact = await loadArtifact(options.artifact ?? 'eicar');
  return withDispatcher(url, options, (d) => sendLoad(d, artifact, options));
}

async function sendLoad(d: Dispatcher, artifact: Artifact, options: LoadOptions): Promise<LoadReport> {
  const expirationMs = options.expirationMs ?? 30_000;
  const target = { uri: d.host.host(artifact), sha256: artifact.sha256, mimetype: artifact.mimetype };
  const ack = new LatencyHistogram();
  const answer = new LatencyHistogram();
  const window = new LatencyHistogram();
  // The report's counters, filled in as the bounties go and come.
  const counts = {
    sent: 0,
    acknowledged: 0,
    status4xx: 0,
    status5xx: 0,
    status503: 0,
    networkErrors: 0,
    answered: 0,
    lost: 0,
    answeredTwice: 0,
    answeredLate: 0,
  };
  const watching = new Set<TrackedBounty>();
  const waiters = new Map<TrackedBounty, () => void>();
  let lastAnswerTick = 0;

  const onAnswer = (t: TrackedBounty) => {
    lastAnswerTick = performance.now();
    if (t.answers === 1) {
      counts.answered++;
      if (t.late) counts.answeredLate++;
      const ms = t.firstAnswerTick! - (t.sentTick + (t.ackMs ?? 0));
      answer.record(Math.max(0, ms));
      window.record(Math.max(0, ms));
      waiters.get(t)?.();
    } else if (t.answers === 2) counts.answeredTwice++;
  };

  /** Sends one bounty; resolves when it has been answered or has expired (closed loop waits on that). */
  const fire = async (): Promise<void> => {
    counts.sent++;
    const t = await dispatchBounty(d, target, expirationMs, onAnswer);
    if (t.status === undefined) counts.networkErrors++;
    else {
      ack.record(t.ackMs!);
      if (accepted(t)) counts.acknowledged++;
      else if (t.status === 503) counts.status503++;
      else if (t.status >= 500) counts.status5xx++;
      else if (t.status >= 400) counts.status4xx++;
    }
    if (!accepted(t)) {
      d.host.releaseAnswerUrl(t.responseUrl);
      return;
    }
    watching.add(t);
    if (t.answers > 0) return;
    await new Promise<void>((resolve) => {
      waiters.set(t, resolve);
      setDeadline(t.expiration, resolve, { unref: true });
    });
    waiters.delete(t);
  };

  // Forgets bounties once their watch is over: unanswered ones are lost.
  const sweep = (now: number) => {
    for (const t of watching) {
      if (now < t.expiration + WATCH_GRACE_MS) continue;
      if (t.answers === 0) counts.lost++;
      watching.delete(t);
      d.host.releaseAnswerUrl(t.responseUrl);
    }
  };

  const started = performance.now();
  const startedAt = Date.now();
  const progress = () =>
    options.onProgress?.({
      elapsedMs: performance.now() - started,
      sent: counts.sent,
      acknowledged: counts.acknowledged,
      answered: counts.answered,
      lost: counts.lost,
      currentP99: window.quantile(0.99),
    });
  const ticker = setInterval(() => {
    sweep(Date.now());
    progress();
    window.reset();
  }, 1000);

  const inFlight = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  try {
    const end = startedAt + options.durationMs;
    if (options.rate !== undefined) {
      const interval = 1000 / options.rate;
      for (let i = 0; ; i++) {
        const due = startedAt + i * interval;
        if (due >= end) break;
        const wait = due - Date.now();
        if (wait > 1) await sleep(wait);
        // Behind schedule: still let the sockets and answers in now and then.
        else if (i % 32 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
        track(fire());
      }
    } else {
      const worker = async () => {
        while (Date.now() < end) await fire();
      };
      await Promise.all(Array.from({ length: options.concurrency! }, worker));
    }
    await Promise.all(inFlight);
    const sendingEnded = performance.now();
    // Every acknowledged bounty answered: listen `settle` more for second answers; otherwise until the watches end.
    const settle = options.settleMs ?? 1000;
    for (;;) {
      sweep(Date.now());
      const open = [...watching].some((t) => t.answers === 0);
      if (watching.size === 0 || (!open && performance.now() - Math.max(lastAnswerTick, sendingEnded) >= settle)) break;
      await sleep(50);
    }
    const answeringMs = Math.max(1, (lastAnswerTick || performance.now()) - started);
    return {
      mode: options.rate !== undefined ? { rate: options.rate } : { concurrency: options.concurrency! },
      durationMs: performance.now() - started,
      sendingMs: sendingEnded - started,
      ...counts,
      answeredPerSecond: (counts.answered * 1000) / answeringMs,
      ack: ack.summary(),
      answer: answer.summary(),
      answerBins: answer.bins(12),
      ok: counts.acknowledged > 0 && counts.lost === 0 && counts.answeredTwice === 0,
    };
  } finally {
    clearInterval(ticker);
    progress();
  }
}
