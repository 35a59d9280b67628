import pg from 'pg';
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
/** A two-token answer, with room left in the test's 20 s to say why it did not come. */
const SHORT_TURN_TIMEOUT_MS = 10_000;
/** Node A's Postgres `application_name`: the database tells its writes from node B's by it. */
const NODE_A = 'node-a';
/** Far longer than a client takes to send again after `done`, far shorter than a lease lives. */
const SLOW_SEQUENCE_WRITE_MS = 500;

/**
 * Makes the database slow to take node A's sequence number alone: the write a node makes as its turn ends, just before
 * it gives the lease back, as a loaded machine may be. Slowed before it touches a row (a statement trigger), so node
 * B's own writes of the conversation do not queue behind it. Returns how to count the writes slowed so far.
 */
async function slowSequenceWritesOfNodeA(schema: TestSchema, delayMs: number): Promise<() => Promise<number>> {
  const query = async (text: string): Promise<pg.QueryResult> => {
    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    try {
      return await client.query(text);
    } finally {
      await client.end();
    }
  };
  await query(`create sequence slowed_sequence_writes;
    create function slow_sequence_write() returns trigger language plpgsql as $$ begin
      if current_setting('application_name') = '${NODE_A}' and current_query() like '%"last_seq" <%' then
        perform nextval('slowed_sequence_writes');
        perform pg_sleep(${delayMs / 1000});
      end if;
      return null;
    end $$;
    create trigger slow_sequence_write before update on conversations for each statement execute function slow_sequence_write();`);
  return async () => {
    const { rows } = await query('select case when is_called then last_value else 0 end as slowed from slowed_sequence_writes');
    return Number((rows[0] as { slowed: string }).slowed);
  };
}

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
    const prefix = `x${Date.now()}`;
    const options = (databaseUrl: string) => ({ ollama, redisUrl: redis.url, config: { storage: { database_url: databaseUrl }, redis: { prefix } } });
    const urlOfA = new URL(schema.url);
    urlOfA.searchParams.set('application_name', NODE_A);
    nodes = await Promise.all([TestRuntime.start(options(urlOfA.toString())), TestRuntime.start(options(schema.url))]);
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

  it("a chat on B sent as soon as B shows A's done runs on B, though A is still storing the turn's last seq", async () => {
    const [a, b] = await twoNodes();
    const slowed = await slowSequenceWritesOfNodeA(schema!, SLOW_SEQUENCE_WRITE_MS);
    // A's answer starts once B shows the conversation, so B shows it as A's turn runs, whatever the machine's load.
    let startAnswer!: () => void;
    const bWatches = new Promise<void>((resolve) => (startAnswer = resolve));
    ollama!.enqueue({ tokens: ['Il', ' était', ' une', ' fois'], startWhen: bWatches }, { tokens: ['Depuis', ' B'] });
    const onA = await a.client(NOA);
    onA.send({ type: 'chat', message: 'Raconte' });
    const conversationId = (await onA.next('history')).conversation_id;
    // Opened on B while A answers in it: B shows it as A publishes it, and runs nothing of it meanwhile.
    const onB = await b.client(NOA);
    onB.send({ type: 'resume', conversation_id: conversationId });
    await onB.next('history');
    startAnswer();
    await onB.next('done', () => true, TURN_TIMEOUT_MS);

    // `busy` says to wait for `done`, then send again: the client does so at once, before A has given the turn back.
    onB.send({ type: 'chat', message: 'Et maintenant ?', conversation_id: conversationId });
    // A `busy` instead would leave this waiting in vain (its message is then among the last ones the timeout shows).
    const onBTurn = await onB.until('done', SHORT_TURN_TIMEOUT_MS);
    expect(onBTurn.filter((m) => m.type === 'error')).toEqual([]);
    expect(textOf(onBTurn)).toBe('Depuis B');
    expect(ollama!.requests).toHaveLength(2);
    // Without A's slowed write there was no race to lose: the test would prove nothing.
    expect(await slowed()).toBeGreaterThan(0);
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
