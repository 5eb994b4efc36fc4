/**
 * The wire protocol, pure (no I/O): types, big-integer JSON, signatures, events, bounty parsing, bids,
 * scan metadata, answers, and (the lead's) schema validation.
 */
export * from './types.js';
export * from './json.js';
export * from './signature.js';
export * from './events.js';
export * from './bounty.js';
export * from './job.js';
export * from './bid.js';
export * from './metadata.js';
export * from './answer.js';
export * from './validate.js';
