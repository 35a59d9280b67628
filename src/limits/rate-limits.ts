import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../config/schema.js';
import { RateLimitedError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redisConnection, whenReady } from '../queue/redis-connection.js';
import { ipRateKey } from './ip-key.js';

/** What is being limited; each scope has its own budget, named like its key under `[rate_limits]`. */
export const RateLimitScope = {
  /** Every frame of a signed-in user, whatever its type (all their sockets together). */
  MessagesPerUser: 'messages_per_user',
  /** Every frame from an address, signed in or not. */
  MessagesPerIp: 'messages_per_ip',
  /** Conversations created (`new_conversation`, or a `chat` that starts one): each is a row and a live actor. */
  ConversationsPerUser: 'conversations_per_user',
  ConversationsPerIp: 'conversations_per_ip',
  /** Sign-in attempts, failed or not: each may verify a token or fetch a key set. */
  AuthPerIp: 'auth_per_ip',
  ChatPerUser: 'chat_per_user',
  ChatPerIp: 'chat_per_ip',
  ConnectionsPerIp: 'connections_per_ip',
  ConnectionsPerUser: 'connections_per_user',
  WebhooksPerIp: 'webhooks_per_ip',
  SummaryRequestsPerIp: 'summary_requests_per_ip',
  /** `PUT /api/mail/account`: each one makes the mail server log in to someone's IMAP and SMTP servers. */
  MailAccountConnectsPerUser: 'mail_account_connects_per_user',
} as const;
export type RateLimitScope = (typeof RateLimitScope)[keyof typeof RateLimitScope];

export type RateLimitsConfig = Config['rate_limits'];

export interface RateLimits {
  /**
   * Spends one point of `scope`'s budget for `key` (an email, or an IP for `*_per_ip` scopes: an IPv6 one counts as its
   * /64). Resolves when allowed; throws `RateLimitedError` (code `rate_limited`, `retryAfterMs`) when the budget is
   * spent. Never throws because Redis is down.
   */
  consume(scope: RateLimitScope, key: string): Promise<void>;
  /**
   * Resolves once budgets are shared through Redis (at once without Redis or when disabled); rejects if closed first.
   * Not needed before `consume`, which works per node until then. Waits as long as Redis takes: add your own timeout.
   */
  waitUntilReady(): Promise<void>;
  /** Drops the Redis connection. Safe to call twice. */
  close(): Promise<void>;
}

export interface RateLimitsOptions {
  config: RateLimitsConfig;
  /** Where budgets are shared by every node; `''` keeps them in this process. */
  redisUrl: string;
  /** Starts every Redis key, so deployments sharing a Redis keep separate budgets. */
  prefix: string;
  logger: Logger;
  /** Called on every refusal, before the error is thrown (e.g. `metrics.rateLimitHit`). */
  onLimited?: (scope: RateLimitScope) => void;
}

const SCOPES = Object.values(RateLimitScope);

/** Scopes keyed by a client address: their keys go through `ipRateKey` (an IPv6 client is its /64). */
const PER_IP_SUFFIX = '_per_ip';

function budgetKey(scope: RateLimitScope, key: string): string {
  return scope.endsWith(PER_IP_SUFFIX) ? ipRateKey(key) : key;
}

/** How a refusal reads to the person refused. */
const SCOPE_WORDING: Record<RateLimitScope, { what: string; per: string }> = {
  messages_per_user: { what: 'messages', per: 'per user' },
  messages_per_ip: { what: 'messages', per: 'per IP address' },
  conversations_per_user: { what: 'new conversations', per: 'per user' },
  conversations_per_ip: { what: 'new conversations', per: 'per IP address' },
  auth_per_ip: { what: 'sign-in attempts', per: 'per IP address' },
  chat_per_user: { what: 'chat messages', per: 'per user' },
  chat_per_ip: { what: 'chat messages', per: 'per IP address' },
  connections_per_ip: { what: 'new connections', per: 'per IP address' },
  connections_per_user: { what: 'sign-ins', per: 'per user' },
  webhooks_per_ip: { what: 'webhook calls', per: 'per IP address' },
  summary_requests_per_ip: { what: 'summary requests', per: 'per IP address' },
  mail_account_connects_per_user: { what: 'mailbox connection attempts', per: 'per user' },
};

/**
 * The per-node budget used while Redis cannot be reached. It reports each use so the outage is logged when it
 * starts, not when Redis's own reconnect loop notices it.
 */
class InsuranceLimiter extends RateLimiterMemory {
  constructor(
    options: { points: number; duration: number; keyPrefix: string },
    private readonly onUse: () => void,
  ) {
    super(options);
  }

  override consume(key: string | number, points?: number, options?: Record<string, unknown>): Promise<RateLimiterRes> {
    this.onUse();
    return super.consume(key, points, options);
  }
}

export function createRateLimits(options: RateLimitsOptions): RateLimits {
  const { config, onLimited } = options;
  if (!config.enabled) return { consume: async () => {}, waitUntilReady: async () => {}, close: async () => {} };

  const logger = options.logger.child({ component: 'rate-limits' });
  const redis = options.redisUrl ? redisConnection(options.redisUrl, 'producer', logger) : undefined;
  let closing: Promise<void> | undefined;
  let perNode = false;

  const fellBackToMemory = (): void => {
    if (perNode || closing) return;
    perNode = true;
    logger.warn('Redis unreachable: rate limits now hold per node until it is back');
  };
  redis?.on('ready', () => {
    if (!perNode) return;
    perNode = false;
    logger.info('Redis back: rate limits are shared across nodes again');
  });

  const limiters = new Map<RateLimitScope, RateLimiterAbstract>();
  for (const scope of SCOPES) {
    const { points, duration_s: duration } = config[scope];
    const keyPrefix = `${options.prefix}:rl:${scope}`;
    limiters.set(
      scope,
      redis
        ? new RateLimiterRedis({
            storeClient: redis,
            points,
            duration,
            keyPrefix,
            // Straight to the insurance limiter while disconnected, instead of waiting on a doomed command.
            rejectIfRedisNotReady: true,
            insuranceLimiter: new InsuranceLimiter({ points, duration, keyPrefix }, fellBackToMemory),
          })
        : new RateLimiterMemory({ points, duration, keyPrefix }),
    );
  }

  return {
    async consume(scope, key) {
      const limiter = limiters.get(scope);
      if (!limiter) throw new TypeError(`Unknown rate limit scope: ${String(scope)}`);
      try {
        await limiter.consume(budgetKey(scope, key));
      } catch (rejection) {
        // The library rejects with its result when the budget is spent; anything else is a real failure.
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        onLimited?.(scope);
        throw limitedError(scope, config[scope], rejection.msBeforeNext);
      }
    },

    waitUntilReady() {
      if (!redis || redis.status === 'ready') return Promise.resolve();
      if (closing) return Promise.reject(new Error('Rate limits are closed'));
      return whenReady(redis);
    },

    close() {
      closing ??= Promise.resolve().then(() => {
        // Nothing to flush: an increment lost on the way out costs one point at most.
        redis?.disconnect();
      });
      return closing;
    },
  };
}

function limitedError(scope: RateLimitScope, rate: { points: number; duration_s: number }, msBeforeNext: number): RateLimitedError {
  const retryAfterMs = Math.max(1, Math.ceil(msBeforeNext));
  const { what, per } = SCOPE_WORDING[scope];
  const retryAfterS = Math.ceil(retryAfterMs / 1000);
  return new RateLimitedError(`Too many ${what}: ${rate.points} per ${rate.duration_s} s ${per}. Try again in ${retryAfterS} s.`, retryAfterMs);
}
