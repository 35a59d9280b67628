import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { KEEP_COMPLETED_JOBS, KEEP_FAILED_JOBS } from '../src/queue/summary-queue.js';
import { summaryJobId } from '../src/queue/summary-job.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, runtimesClosedAfterEach, type TestRuntime } from './support/runtime-harness.js';

const ALICE = 'alice@example.com';
/** One value Redis builds itself (`SETRANGE`), so no client ever sends it: its size is what deleting it frees. */
const BALLAST_BYTES = 4 * 1024 * 1024;
/**
 * How far `maxmemory` goes below what Redis uses: far more than client buffers move on their own (Redis shrinks idle
 * query buffers on a timer, by a few hundred KB at most here), far less than the ballast, so deleting it makes room.
 */
const OVER_LIMIT_BYTES = 2 * 1024 * 1024;

const email = (subject: string) => ({ user_email: ALICE, email_id: `${randomUUID()}.eml`, from: 'sender@example.com', subject, body: 'Le texte.' });

async function post(rt: TestRuntime, path: string, body: string, signed: boolean): Promise<{ status: number; message: string; retryAfter: string | null }> {
  const headers = { 'content-type': 'application/json', ...(signed ? signWebhook(TEST_WEBHOOK_SECRET, body) : {}) };
  const response = await fetch(`${rt.httpUrl}${path}`, { method: 'POST', headers, body });
  const answer = (await response.json()) as { message?: string };
  return { status: response.status, message: answer.message ?? '', retryAfter: response.headers.get('retry-after') };
}

async function usedMemory(client: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))?.[1]);
}

/**
 * Makes Redis full at once and by a clear margin: a ballast value, then `maxmemory` well below what Redis now uses.
 * (Filling up to the limit with writes leaves it a few hundred bytes over, and Redis frees more than that when it
 * shrinks the writer's query buffer a moment later: the "full" Redis then took the next job.)
 */
async function makeFull(client: Redis): Promise<void> {
  await client.setrange('ballast', BALLAST_BYTES - 1, 'x');
  await client.config('SET', 'maxmemory', String((await usedMemory(client)) - OVER_LIMIT_BYTES));
  await expect(client.set('probe', 'x')).rejects.toThrow(/OOM command not allowed when used memory > 'maxmemory'/);
}

describe('a Redis that cannot be filled', () => {
  let redis: TestRedis | undefined;
  let client: Redis | undefined;
  let maxmemory = '';
  beforeAll(async () => {
    // redis.conf as it ships (noeviction); tests lower maxmemory below what is used to make it full.
    redis = await TestRedis.start();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    maxmemory = ((await client.config('GET', 'maxmemory')) as string[])[1] ?? '';
  });
  afterEach(async () => {
    // A failed test must not leave the next one a full Redis.
    await client?.config('SET', 'maxmemory', maxmemory);
    await client?.del('ballast');
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.close();
  });
  const runtimes = runtimesClosedAfterEach(() => ({ mcp: false, redisUrl: redis?.url ?? '' }));

  it('a full Redis gets 503 with Retry-After at the edge, keeps every accepted mail, and takes the same webhook once there is room', async () => {
    const redisClient = client!;
    // No worker: accepted jobs wait in Redis, where they can be counted. A short result wait: a job wrongly accepted
    // by a full Redis fails this test with a 504 in seconds, instead of timing it out.
    const rt = await runtimes.start({ config: { summarization: { worker: false, timeout_ms: 2_000 } } });
    const accepted = [email('one'), email('two')];
    for (const body of accepted) expect((await post(rt, '/api/webhooks/email', JSON.stringify(body), true)).status).toBe(202);

    await makeFull(redisClient);
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

    await redisClient.del('ballast');
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
    const opts = JSON.parse((await client!.hget(key, 'opts')) ?? '{}') as Record<string, unknown>;
    expect(opts).toMatchObject({ removeOnComplete: KEEP_COMPLETED_JOBS, removeOnFail: KEEP_FAILED_JOBS });
  });
});
