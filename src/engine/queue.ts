/**
 * Where accepted bounties wait for a scan: the `BountyQueue` contract the webhook app stores bounties through and
 * the scan core is driven by. Two queues implement it: the embedded one (embedded-queue.ts, journaled on disk) and
 * the shared one on Redis (redis/queue.ts); build either and hand it to `createEngine({ queue })`.
 */
import type { BountyData } from '../protocol/types.js';
import type { AnswerPoster } from './deliver.js';

export interface BountyJob {
  /** The dedup key (protocol/job.ts): the bounty id and phase, both signed, so a body replayed under new delivery ids is one job. */
  key: string;
  deliveryId: string | null;
  bounty: BountyData;
  /** Date.now() when the webhook arrived. */
  receivedAt: number;
  /** The signed body's size: what the queue's byte budget counts. */
  bytes?: number;
  /** The signed body, for the journal; dropped once stored. */
  body?: Uint8Array;
}

/** What a job came to. `retained`: not answered on purpose (shutdown); it stays in its queue for later. */
export type JobOutcome = 'answered' | 'answer-failed' | 'expired' | 'retained';
export type EnqueueOutcome = 'accepted' | 'duplicate' | 'full';

/**
 * What a queue drives: the scan core (scanner.ts). A queue calls `process` for each job it runs, `abandon` for a job
 * it will not scan (its scan deadline came while it waited, the shutdown, a shared queue that gave up on it), and
 * `cut` when the shutdown grace is over.
 */
export interface JobRunner {
  /**
   * Scans the job and answers it. `taken`: it came from a shared queue, with no delivery seen in this process.
   * `scanned` is called once the scan is over and only the answer post is left: the queue may give the job's scan
   * slot to the next one then (the post has its own bound: deliverer.ts).
   */
  process(job: BountyJob, options?: { taken?: boolean; scanned?: () => void }): Promise<JobOutcome>;
  /** Answers `unknown` with `comment` (default SKIPPED:SHUTDOWN) without scanning. */
  abandon(job: BountyJob, comment?: string): Promise<JobOutcome>;
  /** The shutdown grace is over: running scans are cut short (their jobs answered or kept, as the queue's `cutJobs` says). */
  cut(): void;
}

/**
 * What becomes of a job cut short when the shutdown grace ends:
 * - `answer`: answered `unknown` SKIPPED:SHUTDOWN now (in memory, nothing would answer it later);
 * - `keep`: left in the queue for another worker (Redis); an answer already being posted still goes out;
 * - `keep-cut-posts`: left in the queue for the next start, answer posts under way cut too (the journal).
 */
export type CutJobs = 'answer' | 'keep' | 'keep-cut-posts';

export interface RecoveryReport {
  /** Bounties from the journal queued again. */
  restored: number;
  /** Bounties from the journal that expired while the engine was down (no answer is due). */
  dropped: string[];
  /** Journal records that could not be read back (logged, then removed). */
  unreadable: number;
}

/** The webhook app stores bounties with `enqueue`; once `start` is called, the queue hands them to the scan core. */
export interface BountyQueue {
  /** For the banner and the log, e.g. `embedded, in memory`; never a password. */
  readonly description: string;
  /** What a job cut short at the end of the shutdown grace becomes. */
  readonly cutJobs: CutJobs;
  /**
   * What the answers of this queue's jobs are posted through, in front of `inner` (the engine's bounded POST): the
   * Redis queue's post-once guard, which also keeps a scanned job's answer in Redis while it is posted.
   */
  postThrough?(inner: AnswerPoster): AnswerPoster;
  /**
   * True when other processes post most answers, under their own egress policy (a Redis web process whose workers
   * scan): the webhook then does not refuse a response_url by this process's policy.
   */
  readonly postsElsewhere?: boolean;
  /** Resolves once the job is stored (a 202 is only sent after that); rejects with QueueUnavailableError if it cannot be. */
  enqueue(job: BountyJob): Promise<EnqueueOutcome>;
  health(): Promise<{ ok: boolean; detail?: string }>;
  /** This process's share: jobs waiting here and jobs it is scanning or answering. */
  counts(): { waiting: number; active: number };
  /** Starts handing jobs to `runner` (call once, after `recover`). */
  start(runner: JobRunner): void;
  /** Queues again what a previous run left behind (the journal); the report says what. */
  recover?(): Promise<RecoveryReport>;
  /** Resolves once the queue's backend answers, or rejects after `timeoutMs` (default: waits). */
  ready?(timeoutMs?: number): Promise<void>;
  /**
   * Stops taking jobs and lets running ones finish for at most `graceMs`, then calls `runner.cut()`. What is left is
   * answered, kept or handed back as `cutJobs` says.
   */
  close(options: { graceMs: number }): Promise<void>;
  /** Once the runner is idle after `close`: releases what the queue holds (journal writes, connections). */
  release?(): Promise<void>;
}

/** The queue cannot store the job (closed, or its backend is down): the app answers 503 with Retry-After. */
export class QueueUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QueueUnavailableError';
  }
}
