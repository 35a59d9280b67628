import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { RATE_LIMITED_CLOSE_CODE } from '../src/server/protocol-handler.js';
import { FakeOllama } from './support/fake-ollama.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, runtimesClosedAfterEach, type TestRuntime } from './support/runtime-harness.js';
import { TestClient } from './support/ws-client.js';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';

async function rateLimitHits(rt: TestRuntime, scope: string): Promise<number> {
  const text = await (await fetch(`${rt.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`ai_runtime_rate_limit_hits_total{scope="${scope}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** The limits as the server applies them: on the socket and the webhook, with the runtime's Redis when it has one. */
describe('rate limits in the runtime', () => {
  const { start, closeAll } = runtimesClosedAfterEach(() => ({ mcp: false }));

  it('refuses a chat past chat_per_user with rate_limited and a retry time; the socket stays usable and nothing is stored', async () => {
    const rt = await start({ config: { rate_limits: { chat_per_user: { points: 2, duration_s: 60 } } } });
    const alice = await rt.client(ALICE);
    const first = await alice.chat('one');
    const conversationId = first.find((m) => m.type === 'history')!.conversation_id;
    await alice.chat('two');

    alice.send({ type: 'chat', message: 'three' });
    const refused = await alice.next('error');
    expect(refused.code).toBe(ErrorCode.RateLimited);
    expect(refused.retry_after_ms).toBeGreaterThan(0);
    expect(refused.retry_after_ms).toBeLessThanOrEqual(60_000);
    expect(refused.message).toMatch(/chat messages/);

    alice.send({ type: 'ping' });
    await alice.next('pong');
    alice.send({ type: 'resume', conversation_id: conversationId });
    const history = await alice.next('history');
    expect(history.messages.filter((m) => m.role === 'user').map((m) => m.content)).toEqual(['one', 'two']);
    expect(await rateLimitHits(rt, 'chat_per_user')).toBe(1);

    // Another user's budget is untouched.
    const bob = await rt.client(BOB);
    expect((await bob.chat('hello')).at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
  });

  it('refuses chats past chat_per_ip for every user behind that IP', async () => {
    const rt = await start({ config: { rate_limits: { chat_per_ip: { points: 1, duration_s: 60 } } } });
    const alice = await rt.client(ALICE);
    await alice.chat('one');
    const bob = await rt.client(BOB);
    bob.send({ type: 'chat', message: 'two' });
    expect((await bob.next('error')).code).toBe(ErrorCode.RateLimited);
    expect(await rateLimitHits(rt, 'chat_per_ip')).toBe(1);
  });

  it('answers a connection past connections_per_ip with rate_limited, then closes it with 1013', async () => {
    const rt = await start({ config: { rate_limits: { connections_per_ip: { points: 2, duration_s: 60 } } } });
    const kept = [await rt.client(ALICE), await rt.client(ALICE)];
    const third = await TestClient.connect(rt.wsUrl);
    const refused = await third.next('error');
    expect(refused.code).toBe(ErrorCode.RateLimited);
    expect(refused.retry_after_ms).toBeGreaterThan(0);
    expect((await third.closed).code).toBe(RATE_LIMITED_CLOSE_CODE);
    // The sockets already open are not affected.
    kept[0]!.send({ type: 'ping' });
    await kept[0]!.next('pong');
  });

  it('answers a webhook past webhooks_per_ip with 429 and Retry-After', async () => {
    const rt = await start({ config: { rate_limits: { webhooks_per_ip: { points: 1, duration_s: 30 } } } });
    const post = () => {
      const body = JSON.stringify({ user_email: ALICE, email_id: 'm1', from: 'x@example.com', subject: 's', body: 'b' });
      return fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers: { 'content-type': 'application/json', ...signWebhook(TEST_WEBHOOK_SECRET, body) }, body });
    };
    expect((await post()).status).toBe(202);
    const limited = await post();
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(((await limited.json()) as { message: string }).message).toMatch(/webhook/);
  });

  it('does not limit when rate_limits.enabled is false', async () => {
    const rt = await start({ config: { rate_limits: { enabled: false, chat_per_user: { points: 1, duration_s: 60 } } } });
    const alice = await rt.client(ALICE);
    await alice.chat('one');
    expect((await alice.chat('two')).at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
  });

  describe('across nodes (private Redis)', () => {
    let redis: TestRedis;
    beforeAll(async () => {
      redis = await TestRedis.start();
    });
    afterAll(() => redis.close());

    it('holds one chat_per_user budget across two nodes sharing Redis', async () => {
      const ollama = await FakeOllama.start();
      try {
        const config = { redis: { prefix: `rl${Date.now()}` }, rate_limits: { chat_per_user: { points: 2, duration_s: 60 } } };
        const nodeA = await start({ ollama, redisUrl: redis.url, config });
        const nodeB = await start({ ollama, redisUrl: redis.url, config });
        await (await nodeA.client(ALICE)).chat('on A');
        const onB = await nodeB.client(ALICE);
        await onB.chat('on B');
        onB.send({ type: 'chat', message: 'over the shared budget' });
        expect((await onB.next('error')).code).toBe(ErrorCode.RateLimited);
      } finally {
        await closeAll();
        await ollama.close();
      }
    });
  });
});
