/**
 * What engine projects import from the engine runtime (re-exported by `src/index.ts`).
 */
export type { Bounty, ScanContext, ScanFunction, ComputeBidFunction, ScanModule, ArtifactErrorReason } from './types.js';
export { ArtifactError } from './types.js';
export { createEngine } from './engine.js';
export type { Engine, EngineOptions, EngineStats } from './engine.js';
export { EmbeddedQueue, QueueUnavailableError, jobKey } from './queue.js';
export type { BountyJob, BountyQueue, EnqueueOutcome, JobProcessor } from './queue.js';
export { createProcessor, createPipeline } from './pipeline.js';
export { deliverAnswer } from './deliver.js';
export type { DeliverFunction, DeliveryRequest, DeliveryResult, DeliverOptions } from './deliver.js';
// engine-CLI colleague: add `export { loadScanModule } from './loader.js';` on the next line.
export { loadScanModule } from './loader.js';
