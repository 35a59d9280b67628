import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { KEEP_COMPLETED_JOBS, KEEP_FAILED_JOBS } from '../src/queue/summary-queue.js';
import { summaryJobId } from '../src/queue/summary-job.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, runtimesClosedAfterEach, type TestRuntime } from './support/runtime-harness.js';

const ALICE = 'alice@example.com';
/** Small enough to fill in a moment, large enough for the runtime's own connections and BullMQ's scripts. */
const TINY_MAXMEMORY = '16mb';
const FILLER_SIZES = [256 * 1024, 4 * 1024, 64];

const email = (subject: string) => ({ user_email: ALICE, email_id: `${randomUUID()}.eml`, from: 'sender@example.com', subject, body: 'Le texte.' });

async function post(rt: TestRuntime, path: string, body: string, signed: boolean): Promise<{ status: number; message: string; retryAfter: string | null }> {
  const headers = { 'content-type': 'application/json', ...(signed ? signWebhook(TEST_WEBHOOK_SECRET, body) : {}) };
  const response = await fetch(`${rt.httpUrl}${path}`, { method: 'POST', headers, body });
  const answer = (await response.json()) as { message?: string };
  return { status: response.status, message: answer.message ?? '', retryAfter: response.headers.get('retry-after') };
}

/**
 * Writes filler keys until Redis refuses even a small one with its OOM error. A refused big write frees its own
 * request buffer, leaving room for small ones: so big values first, then ever smaller.
 */
async function fill(client: Redis): Promise<number> {
  let written = 0;
  for (const size of FILLER_SIZES) {
    const filler = 'x'.repeat(size);
    for (;;) {
      try {
        await client.set(`filler:${written}`, filler);
        written++;
      } catch (error) {
        expect(String(error)).toMatch(/OOM command not allowed when used memory > 'maxmemory'/);
        break;
      }
    }
  }
  return written;
}

describe('a Redis that cannot be filled', () => {
  let redis: TestRedis;
  let client: Redis;
  beforeAll(async () => {
    // redis.conf's own policy (noeviction) with a tiny ceiling.
    redis = await TestRedis.start(['--maxmemory', TINY_MAXMEMORY]);
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    client.disconnect();
    await redis.close();
  });
  const runtimes = runtimesClosedAfterEach(() => ({ mcp: false, redisUrl: redis.url }));

  it('a full Redis gets 503 with Retry-After at the edge, keeps every accepted mail, and takes the same webhook once there is room', async () => {
    // No worker: accepted jobs wait in Redis, where they can be counted.
    const rt = await runtimes.start({ config: { summarization: { worker: false } } });
    const accepted = [email('one'), email('two')];
    for (const body of accepted) expect((await post(rt, '/api/webhooks/email', JSON.stringify(body), true)).status).toBe(202);

    expect(await fill(client)).toBeGreaterThan(0);
    const late = JSON.stringify(email('while full'));
    const refused = await post(rt, '/api/webhooks/email', late, true);
    expect(refused.status, refused.message).toBe(503);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(refused.message).toMatch(/full.*try again/i);
    const summary = await post(rt, '/api/generate-summary', JSON.stringify(email('summary while full')), false);
    expect(summary.status, summary.message).toBe(503);
    expect(Number(summary.retryAfter)).toBeGreaterThan(0);
    // noeviction: what was accepted before is still there.
    expect((await rt.runtime.queue!.counts()).waiting).toBe(2);

    const fillers = await client.keys('filler:*');
    await client.del(...fillers);
    const retried = await post(rt, '/api/webhooks/email', late, true);
    expect(retried.status, retried.message).toBe(202);
    expect((await rt.runtime.queue!.counts()).waiting).toBe(3);
  });

  it('redis.conf caps memory and never evicts (an evicted job is a lost mail)', () => {
    const conf = readFileSync(new URL('../redis.conf', import.meta.url), 'utf8');
    expect(conf).toMatch(/^maxmemory [1-9]\d*(mb|gb)$/m);
    expect(conf).toMatch(/^maxmemory-policy noeviction$/m);
  });

  it('finished jobs are kept for a bounded time and number', async () => {
    const rt = await runtimes.start({ config: { summarization: { worker: false } } });
    const body = email('kept');
    expect((await post(rt, '/api/webhooks/email', JSON.stringify(body), true)).status).toBe(202);
    const key = `${rt.config.redis.prefix}:email-summaries:${summaryJobId(body.user_email, body.email_id)}`;
    const opts = JSON.parse((await client.hget(key, 'opts')) ?? '{}') as Record<string, unknown>;
    expect(opts).toMatchObject({ removeOnComplete: KEEP_COMPLETED_JOBS, removeOnFail: KEEP_FAILED_JOBS });
  });
});
