import { Redis } from 'ioredis';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * How a connection is used decides its options, as BullMQ documents:
 * - `producer` (Queue, PUBLISH): fail fast while Redis is down, so a webhook can answer 503 instead of hanging;
 * - `blocking` (Worker, QueueEvents) and `subscriber`: wait for Redis however long it takes (`maxRetriesPerRequest: null`).
 */
export type RedisRole = 'producer' | 'blocking' | 'subscriber';

/** Reconnect delay grows to this and stays: Redis restarts should be picked up within seconds. */
const MAX_RECONNECT_DELAY_MS = 2_000;

export function redisConnection(url: string, role: RedisRole, logger: Logger, options: { commandTimeoutMs?: number } = {}): Redis {
  const redis = new Redis(url, {
    // Connected but not answering (a frozen Redis): without it a command waits as long as the socket lives.
    ...(options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {}),
    maxRetriesPerRequest: role === 'producer' ? 1 : null,
    enableOfflineQueue: role !== 'producer',
    retryStrategy: (times) => Math.min(times * 100, MAX_RECONNECT_DELAY_MS),
    lazyConnect: false,
    // ioredis resubscribes after a reconnect without handling that command's failure: a connection closed at that
    // moment (a shutdown) becomes an unhandled rejection. `keepSubscribed` does it with the failure handled.
    ...(role === 'subscriber' ? { autoResubscribe: false } : {}),
    connectionName: `ai-runtime:${role}`,
  });
  let down = false;
  // ioredis emits an error per failed reconnect; one line per outage is enough.
  redis.on('error', (error) => {
    if (down) return;
    down = true;
    logger.warn({ redis: url.replace(/\/\/[^@]*@/, '//***@'), role, err: errorMessage(error) }, 'Redis unavailable; reconnecting');
  });
  redis.on('ready', () => {
    if (down) logger.info({ role }, 'Redis connection restored');
    down = false;
  });
  return redis;
}

/** Resolves when the connection is ready (at once if it is); rejects if it is closed first. */
export function whenReady(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      redis.off('end', onEnd);
      resolve();
    };
    const onEnd = (): void => {
      redis.off('ready', onReady);
      reject(new Error('Redis connection closed before it was ready'));
    };
    redis.once('ready', onReady);
    redis.once('end', onEnd);
  });
}

/**
 * Subscribes a `subscriber` connection to `channel`, and again after every reconnect (its `autoResubscribe` is off).
 * Resolves with the first subscription.
 */
export function keepSubscribed(redis: Redis, channel: string, logger: Logger): Promise<void> {
  let subscribed = false;
  redis.on('ready', () => {
    if (!subscribed) return;
    redis.subscribe(channel).catch((error: unknown) => logger.warn({ channel, err: errorMessage(error) }, 'could not subscribe again after a reconnect'));
  });
  return redis.subscribe(channel).then(() => {
    subscribed = true;
  });
}
