/** What engine projects import from the engine runtime (re-exported by `src/index.ts`). */
export type { Bounty, ScanContext, ScanFunction, ComputeBidFunction, ScanModule, ArtifactErrorReason } from './types.js';
export { ArtifactError } from './types.js';
export { createEngine } from './engine.js';
export type { Engine, EngineOptions, EngineStats } from './engine.js';
export { combineObservers } from './observer.js';
export type { AnswerEvent, DeliveryEvent, EngineObserver, ScanErrorEvent } from './observer.js';
export { openJournal } from './journal.js';
export type { Journal, JournalRecord } from './journal.js';
export { EmbeddedQueue, type EmbeddedQueueOptions } from './embedded-queue.js';
export { QueueUnavailableError } from './queue.js';
export type { BountyJob, BountyQueue, CutJobs, EnqueueOutcome, JobOutcome, JobRunner, RecoveryReport } from './queue.js';
export { createScanner } from './scanner.js';
export type { Scanner, ScannerOptions, ScannerStats } from './scanner.js';
export { EngineError, isEngineError } from './errors.js';
export type { EngineErrorCode } from './errors.js';
export type { EgressPolicy, EgressMode } from './egress.js';
export { deliverAnswer } from './deliver.js';
export type { AnswerPoster, AnswerPost, AnswerPostResult, DeliverOptions } from './deliver.js';
export { loadScanModule } from './loader.js';
export {
  ScanError,
  UnprocessableScanError,
  CalledProcessScanError,
  FileSkippedScanError,
  IllegalFileTypeScanError,
  EncryptedFileScanError,
  CorruptFileScanError,
  HighCompressionScanError,
  ServerNotReadyScanError,
  SCAN_ERROR_KINDS,
} from './scan-errors.js';
export type { ScanErrorKind } from './scan-errors.js';
