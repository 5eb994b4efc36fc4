/**
 * The shared queue on Redis (BullMQ), loaded only with `--queue`: BullMQ and ioredis add about a quarter of a
 * second to a start-up.
 */
export { createRedisConsumer, type RedisConsumer, type RedisConsumerOptions } from './consumer.js';
export { decodeJob, encodeJob, jobIdFor } from './job.js';
export { Budget, budgetKeys } from './budget.js';
export { claimQueue, evictionRefusal, preflight, QUEUE_REGISTRY, readFacts } from './inspect.js';
export { DEFAULT_LOCK_DURATION_MS, DEFAULT_QUEUE_NAME, queueNameFor, type RedisQueueOptions } from './options.js';
export { PostOnceGuard } from './post-once.js';
export { RedisQueue, redisEngineQueue, type RedisEngineQueue } from './queue.js';
export { parseRedisUrl, type RedisTarget } from './target.js';
