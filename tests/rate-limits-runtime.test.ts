import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode } from '../src/errors.js';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { pino } from 'pino';
import { ServerConfigSchema } from '../src/config/schema.js';
import type { ConversationHub } from '../src/conversations/conversation-hub.js';
import { MAX_QUEUED_MESSAGES, ProtocolHandler, RATE_LIMITED_CLOSE_CODE, newConnectionState } from '../src/server/protocol-handler.js';
import type { ConversationStore } from '../src/storage/conversation-store.js';
import { FakeOllama } from './support/fake-ollama.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, runtimesClosedAfterEach, type TestRuntime } from './support/runtime-harness.js';
import { TestClient } from './support/ws-client.js';
import type { ServerMessage } from '../src/protocol/protocol.js';

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

  it('a burst of 400 new_conversation on one socket is refused past the budget: no rows, no actors beyond it', async () => {
    // The default budgets: the point is that they refuse the burst, not that a test can.
    const rt = await start();
    const budget = 20; // [rate_limits] conversations_per_user's default
    const attacker = await rt.client('burst@example.com');
    for (let i = 0; i < 400; i++) attacker.send({ type: 'new_conversation' });
    const answered = (m: ServerMessage) => m.type === 'history' || m.type === 'error';
    await vi.waitFor(() => expect(attacker.messages.filter(answered)).toHaveLength(400), { timeout: 10_000, interval: 50 });

    const created = attacker.messages.filter((m) => m.type === 'history');
    const refused = attacker.messages.filter((m) => m.type === 'error');
    expect(created.length).toBeGreaterThan(0);
    expect(created.length).toBeLessThanOrEqual(budget);
    expect(refused.length).toBe(400 - created.length);
    for (const error of refused) expect(error).toMatchObject({ code: ErrorCode.RateLimited, retry_after_ms: expect.any(Number) as number });
    const rows = await rt.runtime.db.selectFrom('conversations').select('id').where('user_email', '=', 'burst@example.com').execute();
    expect(rows).toHaveLength(created.length);
    expect(rt.runtime.hub.size).toBe(created.length);
    expect(await rateLimitHits(rt, 'conversations_per_user')).toBeGreaterThan(0);
    expect(rt.config.rate_limits.conversations_per_user.points).toBe(budget);

    // The budget is the user's, not the socket's: a fresh socket does not get a fresh one.
    const again = await rt.client('burst@example.com');
    again.send({ type: 'new_conversation' });
    expect((await again.next('error')).code).toBe(ErrorCode.RateLimited);
  });

  it('refuses a chat that would start a conversation past conversations_per_user, but not one in a conversation it has', async () => {
    const rt = await start({ config: { rate_limits: { conversations_per_user: { points: 1, duration_s: 60 } } } });
    const alice = await rt.client(ALICE);
    await alice.chat('one');
    const fresh = await rt.client(ALICE);
    fresh.send({ type: 'chat', message: 'a second conversation' });
    const refused = await fresh.next('error');
    expect(refused.code).toBe(ErrorCode.RateLimited);
    expect(refused.message).toMatch(/new conversations/);
    expect((await alice.chat('two')).at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
    const rows = await rt.runtime.db.selectFrom('conversations').select('id').where('user_email', '=', ALICE).execute();
    expect(rows).toHaveLength(1);
  });

  it('counts every message type against messages_per_user: list_conversations past it is refused', async () => {
    const rt = await start({ config: { rate_limits: { messages_per_user: { points: 3, duration_s: 60 } } } });
    const alice = await rt.client(ALICE);
    for (let i = 0; i < 3; i++) {
      alice.send({ type: 'list_conversations' });
      await alice.next('conversations');
    }
    alice.send({ type: 'list_conversations' });
    const refused = await alice.next('error');
    expect(refused.code).toBe(ErrorCode.RateLimited);
    expect(refused.retry_after_ms).toBeGreaterThan(0);
    expect(await rateLimitHits(rt, 'messages_per_user')).toBe(1);
    // Per user: Bob, on the same IP, still has his.
    const bob = await rt.client(BOB);
    bob.send({ type: 'list_conversations' });
    await bob.next('conversations');
  });

  it('counts every frame from an IP, even before sign-in, against messages_per_ip', async () => {
    const rt = await start({ config: { rate_limits: { messages_per_ip: { points: 2, duration_s: 60 } } } });
    const client = await rt.client();
    client.send({ type: 'ping' });
    await client.next('pong');
    client.sendRaw('not json');
    await client.next('error', (e) => e.code === ErrorCode.InvalidJson);
    client.send({ type: 'ping' });
    expect((await client.next('error')).code).toBe(ErrorCode.RateLimited);
  });

  it('refuses sign-in attempts past auth_per_ip with auth_error rate_limited, before the credentials are checked', async () => {
    const rt = await start({ config: { rate_limits: { auth_per_ip: { points: 2, duration_s: 60 } } } });
    const guesser = await rt.client();
    for (let i = 0; i < 2; i++) {
      guesser.send({ type: 'auth', email: 'not an email' });
      expect((await guesser.next('auth_error')).code).toBe(ErrorCode.AuthFailed);
    }
    guesser.send({ type: 'auth', email: ALICE });
    const refused = await guesser.next('auth_error');
    expect(refused.code).toBe(ErrorCode.RateLimited);
    expect(refused.retry_after_ms).toBeGreaterThan(0);
    expect(await rateLimitHits(rt, 'auth_per_ip')).toBe(1);
  });

  it('counts inspector sockets against connections_per_ip, and their sign-ins against auth_per_ip', async () => {
    const rt = await start({ config: { admin: { token: 'rate-limits-admin-token-of-32-chars' }, rate_limits: { connections_per_ip: { points: 2, duration_s: 60 }, auth_per_ip: { points: 1, duration_s: 60 } } } });
    const inspectorUrl = `${rt.wsUrl.replace(/\/ws$/, '')}/inspector/ws`;
    const openInspector = async () => {
      const socket = new WebSocket(inspectorUrl);
      const received: Array<{ type: string; code?: string; retry_after_ms?: number }> = [];
      socket.on('message', (data) => received.push(JSON.parse(String(data)) as { type: string; code?: string }));
      const closedWith = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      await once(socket, 'open');
      return { socket, received, closedWith };
    };
    const first = await openInspector();
    first.socket.send(JSON.stringify({ type: 'auth', token: 'rate-limits-admin-token-of-32-chars' }));
    await vi.waitFor(() => expect(first.received[0]).toMatchObject({ type: 'auth_success' }));
    const second = await openInspector();
    second.socket.send(JSON.stringify({ type: 'auth', token: 'rate-limits-admin-token-of-32-chars' }));
    await vi.waitFor(() => expect(second.received[0]).toMatchObject({ type: 'auth_error', code: ErrorCode.RateLimited }));
    expect(await second.closedWith).toBe(RATE_LIMITED_CLOSE_CODE);
    // Two inspector sockets spent the IP's connection budget: a chat socket is refused now.
    const chat = await TestClient.connect(rt.wsUrl);
    expect((await chat.next('error')).code).toBe(ErrorCode.RateLimited);
    expect((await chat.closed).code).toBe(RATE_LIMITED_CLOSE_CODE);
    first.socket.close();
  });

  it('frames on an inspector socket spend messages_per_ip, before they are parsed or signed in', async () => {
    const MESSAGES = 5;
    const rt = await start({ config: { admin: { token: 'rate-limits-admin-token-of-32-chars' }, rate_limits: { messages_per_ip: { points: MESSAGES, duration_s: 60 } } } });
    const socket = new WebSocket(`${rt.wsUrl.replace(/\/ws$/, '')}/inspector/ws`);
    const received: Array<{ type: string; code?: string }> = [];
    socket.on('message', (data) => received.push(JSON.parse(String(data)) as { type: string; code?: string }));
    await once(socket, 'open');
    for (let i = 0; i < MESSAGES + 3; i++) socket.send(i % 2 === 0 ? '{not json' : JSON.stringify({ type: 'ping' }));
    await vi.waitFor(() => expect(received).toHaveLength(MESSAGES + 3));
    expect(received.slice(MESSAGES).map((m) => m.code)).toEqual([ErrorCode.RateLimited, ErrorCode.RateLimited, ErrorCode.RateLimited]);
    expect(received.slice(0, MESSAGES).some((m) => m.code === ErrorCode.RateLimited)).toBe(false);
    socket.close();
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

    it('a node that starts while Redis is slow serves only once budgets are shared, so none is spent per node', async () => {
      // The cause of a flake on a loaded machine: a node that served before its Redis connection was ready counted
      // the first chat in its own memory, and the shared budget never saw it.
      const ollama = await FakeOllama.start();
      try {
        const config = { redis: { prefix: `rl-slow${Date.now()}` }, rate_limits: { chat_per_user: { points: 1, duration_s: 60 } } };
        const { thawed } = redis.freeze(1_500);
        const nodeA = await start({ ollama, redisUrl: redis.url, config });
        await (await nodeA.client(ALICE)).chat('on A, Redis just thawed');
        await thawed;
        const onB = await (await start({ ollama, redisUrl: redis.url, config })).client(ALICE);
        onB.send({ type: 'chat', message: 'over the shared budget' });
        expect((await onB.next('error')).code).toBe(ErrorCode.RateLimited);
      } finally {
        await closeAll();
        await ollama.close();
      }
    });
  });
});

describe('the per-socket message queue', () => {
  it('a flood of frames past the per-socket queue bound gets rate_limited and is not queued', async () => {
    // Budgets in Redis take a round trip per frame: the queue fills while the first frame waits on it.
    let release: () => void = () => undefined;
    const redisRoundTrip = new Promise<void>((resolve) => (release = resolve));
    const consumed: string[] = [];
    const queueFull = vi.fn();
    const handler = new ProtocolHandler({
      hub: {} as ConversationHub,
      store: {} as ConversationStore,
      authenticate: Object.assign(async () => ({ email: ALICE, roles: ['user' as const] }), { verifiesTokens: false }),
      limits: {
        consume: async (scope) => {
          consumed.push(scope);
          await redisRoundTrip;
        },
      },
      config: ServerConfigSchema.parse({}),
      logger: pino({ level: 'silent' }),
      onQueueFull: queueFull,
    });
    const sent: ServerMessage[] = [];
    const connection = { send: (text: string) => void sent.push(JSON.parse(text) as ServerMessage), subscribe: () => undefined, close: () => undefined };
    const state = newConnectionState('203.0.113.50');

    for (let i = 0; i < 400; i++) handler.receive(connection, state, JSON.stringify({ type: 'ping' }));

    // Refused at once, before any budget is even asked: nothing of them waits in memory.
    const flooded = 400 - MAX_QUEUED_MESSAGES;
    expect(sent).toHaveLength(flooded);
    for (const message of sent) expect(message).toMatchObject({ type: 'error', code: ErrorCode.RateLimited, retry_after_ms: expect.any(Number) as number });
    expect(queueFull).toHaveBeenCalledTimes(flooded);
    expect(state.queued).toBe(MAX_QUEUED_MESSAGES);

    release();
    await vi.waitFor(() => expect(sent.filter((m) => m.type === 'pong')).toHaveLength(MAX_QUEUED_MESSAGES));
    expect(consumed.filter((scope) => scope === 'messages_per_ip')).toHaveLength(MAX_QUEUED_MESSAGES);
    expect(state.queued).toBe(0);
    // Room again once the queue has drained.
    handler.receive(connection, state, JSON.stringify({ type: 'ping' }));
    await vi.waitFor(() => expect(sent.filter((m) => m.type === 'pong')).toHaveLength(MAX_QUEUED_MESSAGES + 1));
  });
});
