import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorCode, RateLimitedError } from '../src/errors.js';
import { RateLimitScope, createRateLimits, type RateLimits, type RateLimitsConfig, type RateLimitsOptions } from '../src/limits/rate-limits.js';
import { ipRateKey } from '../src/limits/ip-key.js';
import { captureLogs } from './support/log-capture.js';
import { TestRedis } from './support/redis-launcher.js';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const OUTAGE_WARNING = 'Redis unreachable: rate limits now hold per node until it is back';
const RESTORED_INFO = 'Redis back: rate limits are shared across nodes again';

/** Generous budgets everywhere, so each test only tightens the scope it is about. */
function limitsConfig(overrides: Partial<RateLimitsConfig> = {}): RateLimitsConfig {
  const roomy = { points: 1_000, duration_s: 60 };
  const scopes = Object.fromEntries(Object.values(RateLimitScope).map((scope) => [scope, roomy])) as Record<RateLimitScope, typeof roomy>;
  return { enabled: true, ...scopes, ...overrides };
}


/** Resolves to the refusal, or fails the test if the call was allowed. */
async function refusal(promise: Promise<void>): Promise<RateLimitedError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RateLimitedError);
  return error as RateLimitedError;
}

async function consumeTimes(limits: RateLimits, times: number, scope: Parameters<RateLimits['consume']>[0], key: string): Promise<void> {
  for (let i = 0; i < times; i++) await limits.consume(scope, key);
}

const opened: RateLimits[] = [];
afterEach(async () => {
  for (const limits of opened.splice(0)) await limits.close();
});

/** A "node": its own RateLimits, connected before the test goes on so budgets are really in Redis. */
async function node(options: Partial<RateLimitsOptions> & { redisUrl: string }): Promise<RateLimits> {
  const limits = createRateLimits({ config: limitsConfig(), prefix: `test-${randomUUID()}`, logger: pino({ level: 'silent' }), ...options });
  opened.push(limits);
  await limits.waitUntilReady();
  return limits;
}

describe('rate limits shared through Redis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis.close());

  it('refuses past the budget with rate_limited, a retry time within the window and a readable message', async () => {
    const limits = await node({ redisUrl: redis.url, config: limitsConfig({ chat_per_user: { points: 3, duration_s: 60 } }) });
    await consumeTimes(limits, 3, 'chat_per_user', ALICE);

    const error = await refusal(limits.consume('chat_per_user', ALICE));
    expect(error.code).toBe(ErrorCode.RateLimited);
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(error.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(error.message).toMatch(/^Too many chat messages: 3 per 60 s per user\. Try again in \d+ s\.$/);
  });

  it('gives every key and every scope its own budget', async () => {
    const limits = await node({
      redisUrl: redis.url,
      config: limitsConfig({ chat_per_user: { points: 2, duration_s: 60 }, connections_per_user: { points: 2, duration_s: 60 } }),
    });
    await consumeTimes(limits, 2, 'chat_per_user', ALICE);
    await refusal(limits.consume('chat_per_user', ALICE));

    await consumeTimes(limits, 2, 'chat_per_user', BOB);
    await consumeTimes(limits, 2, 'connections_per_user', ALICE);
    await refusal(limits.consume('connections_per_user', ALICE));
  });

  it('shares one budget between two nodes with the same prefix', async () => {
    const config = limitsConfig({ chat_per_ip: { points: 4, duration_s: 60 } });
    const prefix = `deployment-${randomUUID()}`;
    const first = await node({ redisUrl: redis.url, config, prefix });
    const second = await node({ redisUrl: redis.url, config, prefix });

    await consumeTimes(first, 2, 'chat_per_ip', '203.0.113.7');
    await consumeTimes(second, 2, 'chat_per_ip', '203.0.113.7');
    await refusal(first.consume('chat_per_ip', '203.0.113.7'));
    await refusal(second.consume('chat_per_ip', '203.0.113.7'));
  });

  it('keeps deployments with different prefixes apart on the same Redis', async () => {
    const config = limitsConfig({ webhooks_per_ip: { points: 2, duration_s: 60 } });
    const first = await node({ redisUrl: redis.url, config, prefix: `one-${randomUUID()}` });
    const other = await node({ redisUrl: redis.url, config, prefix: `two-${randomUUID()}` });

    await consumeTimes(first, 2, 'webhooks_per_ip', '198.51.100.1');
    await refusal(first.consume('webhooks_per_ip', '198.51.100.1'));
    await consumeTimes(other, 2, 'webhooks_per_ip', '198.51.100.1');
  });

  it('allows again once the window has passed', async () => {
    const limits = await node({ redisUrl: redis.url, config: limitsConfig({ connections_per_ip: { points: 1, duration_s: 1 } }) });
    await limits.consume('connections_per_ip', '192.0.2.1');
    const error = await refusal(limits.consume('connections_per_ip', '192.0.2.1'));
    expect(error.retryAfterMs).toBeLessThanOrEqual(1_000);

    await sleep(1_100);
    await limits.consume('connections_per_ip', '192.0.2.1');
  });

  it('calls onLimited with the scope on each refusal, and only then', async () => {
    const onLimited = vi.fn();
    const limits = await node({ redisUrl: redis.url, onLimited, config: limitsConfig({ webhooks_per_ip: { points: 2, duration_s: 60 } }) });
    await consumeTimes(limits, 2, 'webhooks_per_ip', '198.51.100.9');
    expect(onLimited).not.toHaveBeenCalled();

    await refusal(limits.consume('webhooks_per_ip', '198.51.100.9'));
    await refusal(limits.consume('webhooks_per_ip', '198.51.100.9'));
    expect(onLimited.mock.calls).toEqual([['webhooks_per_ip'], ['webhooks_per_ip']]);
  });

  it('never refuses when disabled', async () => {
    const onLimited = vi.fn();
    const limits = await node({ redisUrl: redis.url, onLimited, config: limitsConfig({ enabled: false, chat_per_user: { points: 1, duration_s: 60 } }) });
    await consumeTimes(limits, 20, 'chat_per_user', ALICE);
    expect(onLimited).not.toHaveBeenCalled();
  });

  it('closes twice without complaint', async () => {
    const limits = await node({ redisUrl: redis.url });
    await limits.close();
    await limits.close();
  });
});

describe('rate limits without Redis', () => {
  it('limits in this process, each process with its own budget', async () => {
    const config = limitsConfig({ chat_per_user: { points: 2, duration_s: 60 } });
    const first = await node({ redisUrl: '', config });
    const second = await node({ redisUrl: '', config });

    await consumeTimes(first, 2, 'chat_per_user', ALICE);
    const error = await refusal(first.consume('chat_per_user', ALICE));
    expect(error.code).toBe(ErrorCode.RateLimited);
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(error.retryAfterMs).toBeLessThanOrEqual(60_000);
    await consumeTimes(second, 2, 'chat_per_user', ALICE);
  });
});

describe('per-IP keys', () => {
  it('an IPv6 client rotating addresses within its /64 shares one budget', async () => {
    const limits = await node({ redisUrl: '', config: limitsConfig({ messages_per_ip: { points: 3, duration_s: 60 }, webhooks_per_ip: { points: 1, duration_s: 60 } }) });
    await limits.consume('messages_per_ip', '2001:db8:1:2::1');
    await limits.consume('messages_per_ip', '2001:db8:1:2:ffff:ffff:ffff:fffe');
    await limits.consume('messages_per_ip', '2001:0DB8:0001:0002:0000:0000:0000:abcd');
    await refusal(limits.consume('messages_per_ip', '2001:db8:1:2:dead:beef:0:1'));
    // The next /64 is another client.
    await limits.consume('messages_per_ip', '2001:db8:1:3::1');
    // Every per-IP scope, not only the socket's.
    await limits.consume('webhooks_per_ip', '2001:db8:9:9::1');
    await refusal(limits.consume('webhooks_per_ip', '2001:db8:9:9::2'));
  });

  it('an IPv4 client seen through a dual-stack socket (::ffff:a.b.c.d) shares its IPv4 budget', async () => {
    const limits = await node({ redisUrl: '', config: limitsConfig({ connections_per_ip: { points: 2, duration_s: 60 } }) });
    await limits.consume('connections_per_ip', '198.51.100.7');
    await limits.consume('connections_per_ip', '::ffff:198.51.100.7');
    await refusal(limits.consume('connections_per_ip', '::ffff:c633:6407'));
    await limits.consume('connections_per_ip', '198.51.100.8');
  });

  it('does not touch per-user keys', async () => {
    const limits = await node({ redisUrl: '', config: limitsConfig({ messages_per_user: { points: 1, duration_s: 60 } }) });
    await limits.consume('messages_per_user', '2001:db8::1');
    await limits.consume('messages_per_user', '2001:db8::2');
  });

  it.each([
    ['an IPv4 address', '203.0.113.9', '203.0.113.9'],
    ['a compressed IPv6 address', '2001:db8::1', '2001:db8:0:0::/64'],
    ['a full IPv6 address with leading zeros and capitals', '2001:0DB8:00AA:0001:1234:5678:9ABC:DEF0', '2001:db8:aa:1::/64'],
    ['loopback', '::1', '0:0:0:0::/64'],
    ['a link-local address with a zone', 'fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['an IPv4-mapped address', '::ffff:192.0.2.33', '192.0.2.33'],
    ['an IPv4-mapped address in hex', '0:0:0:0:0:ffff:c000:221', '192.0.2.33'],
    ['an IPv4-embedded address that is not mapped', '64:ff9b::192.0.2.33', '64:ff9b:0:0::/64'],
    ['something that is not an address', 'unknown', 'unknown'],
  ])('keys %s by its client', (_name, ip, key) => {
    expect(ipRateKey(ip)).toBe(key);
  });
});

describe('rate limits while Redis is down', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis.close());

  it('falls back to a per-node budget that still limits, logs once per outage, and shares again when Redis is back', async () => {
    const { logger, messages } = captureLogs('info');
    const onLimited = vi.fn();
    const config = limitsConfig({ chat_per_user: { points: 3, duration_s: 60 } });
    const prefix = `outage-${randomUUID()}`;
    const limits = await node({ redisUrl: redis.url, config, prefix, logger, onLimited });
    const outageWarnings = () => messages().filter((m) => m === OUTAGE_WARNING).length;

    await redis.stop();
    await consumeTimes(limits, 3, 'chat_per_user', ALICE);
    const error = await refusal(limits.consume('chat_per_user', ALICE));
    expect(error.code).toBe(ErrorCode.RateLimited);
    expect(onLimited).toHaveBeenCalledWith('chat_per_user');
    await refusal(limits.consume('chat_per_user', ALICE));
    expect(outageWarnings()).toBe(1);

    await redis.restart();
    await limits.waitUntilReady();
    expect(messages()).toContain(RESTORED_INFO);
    // Back on Redis: a second node sees the same budget again.
    const other = await node({ redisUrl: redis.url, config, prefix });
    await limits.consume('chat_per_user', BOB);
    await consumeTimes(other, 2, 'chat_per_user', BOB);
    await refusal(other.consume('chat_per_user', BOB));

    await redis.stop();
    await limits.consume('chat_per_user', 'carol@example.com');
    expect(outageWarnings()).toBe(2);
    await redis.restart();
  });
});
