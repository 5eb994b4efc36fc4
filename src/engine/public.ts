/**
 * What engine projects import from the engine runtime (re-exported by `src/index.ts`).
 */
export type { Bounty, ScanContext, ScanFunction, ComputeBidFunction, ScanModule, ArtifactErrorReason } from './types.js';
export { ArtifactError } from './types.js';
export { createEngine } from './engine.js';
export type { Engine, EngineOptions, EngineStats, RecoveryReport } from './engine.js';
export { combineObservers } from './observer.js';
export type { AnswerEvent, DeliveryEvent, EngineObserver, ScanErrorEvent } from './observer.js';
export { openJournal } from './journal.js';
export type { Journal, JournalRecord } from './journal.js';
export { EmbeddedQueue, QueueUnavailableError, jobKey } from './queue.js';
export type { BountyJob, BountyQueue, EnqueueOutcome, JobOutcome, JobProcessor } from './queue.js';
export { createPipeline } from './pipeline.js';
export { deliverAnswer } from './deliver.js';
export type { DeliverFunction, AnswerPost, AnswerPostResult, DeliverOptions } from './deliver.js';
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
