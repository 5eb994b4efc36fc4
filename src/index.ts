/**
 * polyswarm-engine's library API, for engine projects and their tests:
 * the wire protocol (types, signatures, bounty parsing, bids, answers, schemas), the engine runtime
 * (`createEngine` and the author's contract: `scan`, `computeBid`), and `testEngine`.
 */
export * from './protocol/index.js';
export * from './engine/public.js';
export * from './simulator/run.js';
