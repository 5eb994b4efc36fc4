/**
 * The author's contract: what an engine project's `scan` module exports and what it receives.
 * Re-exported from the package (`import type { ScanFunction } from 'polyswarm-engine'`).
 */
import type { BountyData, ScanResult } from '../protocol/types.js';
import type { Cancellation } from '../util/abort.js';
import type { Logger } from '../util/logger.js';

/** A bounty as `scan` sees it: the validated wire fields plus lazy access to the artifact. */
export interface Bounty extends BountyData {
  /** The artifact's bytes (downloaded once, streamed with a size cap, sha256-checked; cached for the scan). */
  fetchArtifact(): Promise<Buffer>;
  /** A temporary file holding the artifact, for tools that scan files; removed after the scan. */
  artifactPath(): Promise<string>;
}

/** What a scan gets besides the bounty: its deadline (expiration minus the delivery margin) as a signal and a date. */
export interface ScanContext {
  /**
   * Fires at the scan deadline (or at shutdown); pass it to child processes and fetches. The engine makes it on
   * first read (a getter): a scan that never reads it costs no AbortSignal.
   */
  signal: AbortSignal;
  deadline: Date;
  /** A logger whose lines carry the bounty id. */
  log: Logger;
}

/**
 * The ScanContext the scan core hands `scan`. `signal` is a getter, so the AbortSignal (~5 µs) is made only for a scan
 * that reads it. It is an own, enumerable property, defined from one shared descriptor, so the context spreads and
 * lists like a plain object (`{ ...ctx }` keeps `signal`); an object literal with a getter cost V8's slow path (~1 µs).
 */
export class LazySignalContext implements ScanContext {
  static readonly #SIGNAL: PropertyDescriptor = {
    enumerable: true,
    get(this: LazySignalContext): AbortSignal {
      return this.#cancel.signal;
    },
  };
  readonly #cancel: Cancellation;
  declare readonly signal: AbortSignal;
  constructor(
    cancel: Cancellation,
    readonly deadline: Date,
    readonly log: Logger,
  ) {
    this.#cancel = cancel;
    Object.defineProperty(this, 'signal', LazySignalContext.#SIGNAL);
  }
}

export type ScanFunction = (bounty: Bounty, ctx: ScanContext) => ScanResult | Promise<ScanResult>;
export type ComputeBidFunction = (bounty: Bounty, result: ScanResult) => bigint | number | Promise<bigint | number>;

/** The module an engine project exports from `src/scan.ts`. */
export interface ScanModule {
  scan: ScanFunction;
  computeBid?: ComputeBidFunction;
}

export type ArtifactErrorReason = 'cannot-fetch' | 'egress-refused' | 'too-large' | 'hash-mismatch' | 'timeout' | 'unsupported';

/** Thrown by fetchArtifact/artifactPath; the pipeline answers unknown with the matching SKIP comment. */
export class ArtifactError extends Error {
  readonly reason: ArtifactErrorReason;
  constructor(reason: ArtifactErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ArtifactError';
    this.reason = reason;
  }
}
