import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServerMessage } from '../src/protocol/protocol.js';
import { FakeOllama } from './support/fake-ollama.js';
import { TEST_DATABASE_URL, TestSchema } from './support/postgres.js';
import { TestRedis } from './support/redis-launcher.js';
import { TestRuntime } from './support/runtime-harness.js';
import { textOf } from './support/ws-client.js';

const NOA = 'noa@example.com';
/** Enough tokens, paced, that a client can move to the other node while the answer is still streaming. */
const TOKENS = Array.from({ length: 40 }, (_, i) => `w${i} `);
const ANSWER = TOKENS.join('');
const TOKEN_DELAY_MS = 40;
const TURN_TIMEOUT_MS = 20_000;

function seqsOf(messages: readonly ServerMessage[]): number[] {
  return messages.flatMap((m) => ('seq' in m && typeof m.seq === 'number' && m.type !== 'history' ? [m.seq] : []));
}

/** Every seq once, one after the other, starting right after `from`. */
function expectContiguous(seqs: readonly number[], from: number): void {
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => from + 1 + i));
}

describe.skipIf(!TEST_DATABASE_URL)('streams cross nodes (Postgres and Redis shared by two nodes)', () => {
  let redis: TestRedis;
  let schema: TestSchema | undefined;
  let ollama: FakeOllama | undefined;
  let nodes: TestRuntime[] = [];

  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis.close());
  afterEach(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    nodes = [];
    await ollama?.close();
    await schema?.drop();
  });

  async function twoNodes(): Promise<[TestRuntime, TestRuntime]> {
    schema = await TestSchema.create();
    ollama = await FakeOllama.start();
    const options = { ollama, redisUrl: redis.url, config: { storage: { database_url: schema.url }, redis: { prefix: `x${Date.now()}` } } };
    nodes = await Promise.all([TestRuntime.start(options), TestRuntime.start(options)]);
    return nodes as [TestRuntime, TestRuntime];
  }

  /** A new conversation, open in a tab on node A and in one on node B. */
  async function oneConversationOnBothNodes() {
    const [a, b] = await twoNodes();
    const onA = await a.client(NOA);
    onA.send({ type: 'new_conversation' });
    const conversationId = (await onA.next('history')).conversation_id;
    const onB = await b.client(NOA);
    onB.send({ type: 'resume', conversation_id: conversationId });
    const opened = await onB.next('history');
    return { onA, onB, conversationId, opened };
  }

  it('an answer streaming on node A is resumed on node B mid-stream and arrives there complete and once', async () => {
    const [a, b] = await twoNodes();
    ollama!.enqueue({ tokens: TOKENS, delayMs: TOKEN_DELAY_MS });
    const onA = await a.client(NOA);
    onA.send({ type: 'chat', message: 'Raconte' });
    const history = await onA.next('history');
    const conversationId = history.conversation_id;
    const seen = [await onA.next('chunk'), await onA.next('chunk'), await onA.next('chunk')];
    const lastSeq = seen.at(-1)!.seq;
    onA.socket.close();

    // The client reconnects through the load balancer, which sends it to the other node.
    const onB = await b.client(NOA);
    onB.send({ type: 'resume', conversation_id: conversationId, last_seq: lastSeq });
    const rest = await onB.until('done', TURN_TIMEOUT_MS);
    expect(rest.find((m) => m.type === 'resumed' || m.type === 'history')?.type).toBe('resumed');
    const events = rest.filter((m) => m.type !== 'resumed');
    expect(textOf(seen) + textOf(events)).toBe(ANSWER);
    expectContiguous(seqsOf(events), lastSeq);
    expect(events.at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
  });

  it('a tab on node B sees the answer running on A live; a chat on B meanwhile gets busy, and runs once A is done', async () => {
    const { onA, onB, conversationId, opened } = await oneConversationOnBothNodes();

    ollama!.enqueue({ tokens: TOKENS, delayMs: TOKEN_DELAY_MS }, { tokens: ['Depuis', ' B'] });
    onA.send({ type: 'chat', message: 'Raconte', conversation_id: conversationId });
    await onB.next('chunk', () => true, TURN_TIMEOUT_MS);
    onB.send({ type: 'chat', message: 'Et maintenant ?', conversation_id: conversationId });
    expect((await onB.next('error')).code).toBe('busy');

    const onATurn = await onA.until('done', TURN_TIMEOUT_MS);
    const seenOnB = await onB.until('done', TURN_TIMEOUT_MS);
    expect(textOf(onATurn)).toBe(ANSWER);
    // B saw A's turn from its first chunk on (the busy error is B's own and carries no seq).
    const mirrored = onB.messages.filter((m) => m.type !== 'history' && m.type !== 'auth_success' && !(m.type === 'error' && m.code === 'busy'));
    expect(textOf(mirrored)).toBe(ANSWER);
    expectContiguous(seqsOf(mirrored), opened.seq);
    expect(seenOnB.at(-1)).toMatchObject({ type: 'done' });

    // A is done: the next turn may run on B, numbered after A's, and A's tab sees it live.
    const onBTurn = await onB.chat('Et maintenant ?', { conversation_id: conversationId }, TURN_TIMEOUT_MS);
    expect(textOf(onBTurn)).toBe('Depuis B');
    const lastOfA = seqsOf(onATurn).at(-1)!;
    expectContiguous(seqsOf(onBTurn), lastOfA);
    expect(textOf(await onA.until('done', TURN_TIMEOUT_MS))).toBe('Depuis B');
    expect(ollama!.requests).toHaveLength(2);
  });

  it("Stop on node B cancels the answer running on node A: the LLM request is aborted and both tabs get done, cancelled", async () => {
    const { onA, onB, conversationId } = await oneConversationOnBothNodes();

    ollama!.enqueue({ tokens: TOKENS, delayMs: TOKEN_DELAY_MS });
    onA.send({ type: 'chat', message: 'Raconte', conversation_id: conversationId });
    await onB.next('chunk', () => true, TURN_TIMEOUT_MS);
    onB.send({ type: 'cancel', conversation_id: conversationId });
    await ollama!.waitForAbort(0, TURN_TIMEOUT_MS);
    expect(await onA.next('done', () => true, TURN_TIMEOUT_MS)).toMatchObject({ reason: 'cancelled', cancelled: true });
    expect(await onB.next('done', () => true, TURN_TIMEOUT_MS)).toMatchObject({ reason: 'cancelled', cancelled: true });
  });
});
