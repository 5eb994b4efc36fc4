/**
 * What an engine reports as it works, for whoever watches: the metrics exporters, the `serve` inspector and the
 * production recorder subscribe here instead of each reaching into the webhook app and the scan pipeline. Every
 * hook is optional, called synchronously, and must not throw (a throw is caught and ignored: watching never changes
 * what the engine answers).
 */
import type { ArtifactType, Verdict } from '../protocol/types.js';

/** One webhook request, once it was answered. */
export interface DeliveryEvent {
  /** `X-POLYSWARM-EVENT` as received (null when absent); `GET` for a liveness check. */
  event: string | null;
  /** `X-POLYSWARM-DELIVERY` as received. */
  delivery: string | null;
  /** The bounty's id when the body was a valid bounty. */
  bounty?: string;
  status: number;
  /** Why a 4xx/5xx was given, in words (the JSON error's text), when it was. */
  reason?: string;
  duplicate?: boolean;
  /** From the first byte read to the answer, in ms. */
  ackMs: number;
  /** The raw body (capped by the body limit); only for observers that asked for it (`wantsBodies`). */
  body?: Uint8Array;
  headers?: Readonly<Record<string, string>>;
}

/**
 * A bounty a worker took from the shared Redis queue, before its scan. A web process accepted it (202) and stored
 * it; the worker never saw that request, so only what the queue holds is here.
 */
export interface JobEvent {
  bounty: string;
  /** `<bounty id>:<phase>`, as the queue keys it. */
  key: string;
  /** `X-POLYSWARM-DELIVERY` of the request the web process accepted. */
  delivery: string | null;
  /** When the web process received it (ms since the epoch). */
  receivedAt: number;
  /** The bounty as stored in the queue (wire JSON, UTF-8); only for observers that asked for bodies (`wantsBodies`). */
  body?: Uint8Array;
}

/** One answer the pipeline produced and tried to post. */
export interface AnswerEvent {
  bounty: string;
  key: string;
  kind: 'assertion' | 'vote';
  verdict: Verdict;
  /** Wei; 0 for an unknown verdict and for a vote. */
  bid: bigint;
  artifactType: ArtifactType;
  /** The answer's `metadata.comments` (`SKIPPED:TIMEOUT`, `ERROR:…`), empty for a plain verdict. */
  comments: readonly string[];
  /** The scan's own time, null when the bounty was not scanned (deadline, shutdown). */
  scanMs: number | null;
  /** From the webhook's arrival to the scan's start (or to the answer, when not scanned). */
  queueWaitMs: number;
  delivered: boolean;
  /** Last HTTP status from the receiver, or null. */
  status: number | null;
  attempts: number;
  /** Why it was not delivered, when it was not. */
  error?: string;
  /** The exact answer body posted. */
  body: string;
}

/** A scan that did not produce a verdict: it threw, returned junk, or its artifact could not be had. */
export interface ScanErrorEvent {
  bounty: string;
  artifactType: ArtifactType;
  /** The kind: an ArtifactError reason (`cannot-fetch`, `too-large`…), a typed scan error's kind, or `unprocessable`. */
  kind: string;
  message: string;
  /** Where the author's code threw (`/x/src/scan.ts:12:9`), when it threw an Error with a stack. */
  at?: string;
  stack?: string;
}

/** One artifact download a scan asked for (`fetchArtifact` / `artifactPath`), once it ended. */
export interface DownloadEvent {
  bounty: string;
  /** The artifact URL, its query redacted (pre-signed URLs carry credentials there). */
  url: string;
  ok: boolean;
  /** Bytes received (0 when it failed). */
  bytes: number;
  ms: number;
  /** The sha256 the bounty announced, and whether the bytes matched it (null when there was nothing to check). */
  sha256: string | null;
  sha256Ok: boolean | null;
  /** The ArtifactError reason and message when it failed. */
  reason?: string;
  error?: string;
  /** The bytes; only for observers that asked for bodies (`wantsBodies`). */
  data?: Uint8Array;
}

export interface EngineObserver {
  /** Set to receive raw bodies and headers in `onDelivery` (the inspector and the recorder do; metrics do not). */
  readonly wantsBodies?: boolean;
  onDelivery?(event: DeliveryEvent): void;
  /** `worker` only: a job taken from the queue (its download, scan error and answer follow). */
  onJob?(event: JobEvent): void;
  onAnswer?(event: AnswerEvent): void;
  onScanError?(event: ScanErrorEvent): void;
  onDownload?(event: DownloadEvent): void;
}

const HOOKS = ['onDelivery', 'onJob', 'onAnswer', 'onScanError', 'onDownload'] as const;
type Hook = (typeof HOOKS)[number];

/**
 * Several observers as one; a throwing observer is ignored, never the engine's problem. Only the hooks some observer
 * has: the engine builds an event (and times it) only for a hook that is there, so nobody watching costs nothing.
 */
export function combineObservers(observers: readonly (EngineObserver | undefined)[]): EngineObserver {
  const list = observers.filter((o): o is EngineObserver => o !== undefined);
  const hooks = HOOKS.map((hook) => [hook, list.filter((o) => o[hook])] as const)
    .filter(([, takers]) => takers.length > 0)
    .map(([hook, takers]) => [
      hook,
      (event: never) => {
        for (const o of takers) notify(o, hook, event);
      },
    ]);
  return { wantsBodies: list.some((o) => o.wantsBodies), ...Object.fromEntries(hooks) };
}

/** Calls one observer hook; a throw is ignored: watching never changes what the engine answers. */
export function notify<K extends Hook>(
  observer: EngineObserver | undefined,
  hook: K,
  event: Parameters<NonNullable<EngineObserver[K]>>[0],
): void {
  try {
    (observer?.[hook] as ((e: typeof event) => void) | undefined)?.(event);
  } catch {
    // Watching never changes what the engine answers.
  }
}
