/**
 * The shared queue on Redis (BullMQ), loaded only when a queue URL is given: BullMQ and ioredis add about a quarter of a
 * second to a start-up.
 */
export { decodeJob, encodeJob, jobIdFor } from './job.js';
export { Budget, budgetKeys } from './budget.js';
export { claimQueue, evictionRefusal, preflight, QUEUE_REGISTRY, readFacts } from './inspect.js';
export { DEFAULT_LOCK_DURATION_MS, DEFAULT_QUEUE_NAME, queueNameFor, type RedisQueueOptions } from './options.js';
export { PostOnceGuard } from './post-once.js';
export { RedisQueue } from './queue.js';
export { parseRedisUrl, type RedisTarget } from './target.js';
