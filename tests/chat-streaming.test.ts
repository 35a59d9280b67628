import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import type { ServerMessage } from '../src/protocol/protocol.js';
import { TestRuntime } from './support/runtime-harness.js';
import { textOf, typesOf } from './support/ws-client.js';

const WORDS = ['Voici', ' vos', ' emails', ' du', ' jour', '.'];

function conversationIdOf(messages: readonly ServerMessage[]): string {
  const history = messages.find((m) => m.type === 'history');
  if (!history) throw new Error('no history message');
  return history.conversation_id;
}

describe('chat streaming', () => {
  let rt: TestRuntime;
  beforeEach(async () => {
    rt = await TestRuntime.start({ mcp: false });
  });
  afterEach(() => rt.close());

  it('streams the answer token by token, numbered, between thinking/streaming states and done (test_websocket_chat)', async () => {
    rt.ollama.enqueue({ tokens: WORDS });
    const client = await rt.client('alice@example.com');
    const turn = await client.chat('Liste mes emails');

    expect(turn.filter((m) => m.type === 'chunk').map((m) => (m.type === 'chunk' ? m.text : ''))).toEqual(WORDS);
    expect(typesOf(turn)).toEqual([
      'history',
      'state:thinking',
      'state:streaming',
      ...WORDS.map(() => 'chunk'),
      'state:done',
      'state:idle',
      'done',
    ]);
    const done = turn.at(-1)!;
    expect(done).toMatchObject({ type: 'done', reason: 'complete', cancelled: false });
    const seqs = turn.flatMap((m) => ('seq' in m && m.type !== 'history' ? [m.seq as number] : []));
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
  });

  it('answers one after another reuse one kept-alive connection to Ollama', async () => {
    const client = await rt.client('carol@example.com');
    rt.ollama.enqueue({ tokens: WORDS });
    await client.chat('first');
    const before = rt.ollama.connections;
    for (let turn = 0; turn < 5; turn += 1) {
      rt.ollama.enqueue({ tokens: WORDS });
      expect(textOf(await client.chat(`turn ${turn}`))).toBe(WORDS.join(''));
    }
    // A connection torn down after each answer (an abort mid-body, a body left unread) would make one per turn.
    expect(rt.ollama.connections - before).toBe(0);
  });

  it('sends Ollama the model, options, system prompt, and the whole history as context', async () => {
    rt.ollama.enqueue({ tokens: ['Bonjour'] }, { tokens: ['Encore', ' moi'] });
    const client = await rt.client('bob@example.com');
    await client.chat('Salut');
    await client.chat('Et maintenant ?');

    const [first, second] = rt.ollama.requests;
    expect(first!.body).toMatchObject({ model: 'llama3.1:8b', stream: true, options: { num_ctx: 4096, num_predict: 2000, temperature: 0.7 } });
    expect(first!.body.messages![0]).toMatchObject({ role: 'system' });
    expect(first!.body.messages![0]!.content).toContain('bob@example.com');
    expect(second!.body.messages!.slice(1)).toEqual([
      { role: 'user', content: 'Salut' },
      { role: 'assistant', content: 'Bonjour' },
      { role: 'user', content: 'Et maintenant ?' },
    ]);
  });

  it('cancel aborts the LLM HTTP stream for real and ends the turn with a cancelled done', async () => {
    rt.ollama.enqueue({ tokens: ['Un', ' long', ' texte'], hang: true }, { tokens: ['Après'] });
    const client = await rt.client('carol@example.com');
    client.send({ type: 'chat', message: 'Raconte' });
    await client.next('chunk', (m) => m.text === ' texte');
    client.send({ type: 'cancel' });
    await rt.ollama.waitForAbort(0);
    const done = await client.next('done');
    expect(done).toMatchObject({ reason: 'cancelled', cancelled: true });
    expect(rt.ollama.requests[0]!.aborted).toBe(true);

    // The conversation goes on, and the model sees what the user saw of the cut answer.
    const next = await client.chat('Autre chose');
    expect(textOf(next)).toBe('Après');
    expect(rt.ollama.requests[1]!.body.messages!.slice(1, 3)).toEqual([
      { role: 'user', content: 'Raconte' },
      { role: 'assistant', content: 'Un long texte' },
    ]);
  });

  it('cancel while thinking (no token yet) aborts the request before any output', async () => {
    rt.ollama.enqueue({ headersDelayMs: 10_000 });
    const client = await rt.client('dave@example.com');
    client.send({ type: 'chat', message: 'Lent' });
    await client.next('state', (m) => m.state === 'thinking');
    await rt.ollama.waitForRequests(1);
    client.send({ type: 'cancel' });
    expect(await client.next('done')).toMatchObject({ reason: 'cancelled' });
    await rt.ollama.waitForAbort(0);
  });

  it('a second chat while busy gets a busy error and does not disturb the answer', async () => {
    rt.ollama.enqueue({ tokens: ['a', 'b', 'c', 'd'], delayMs: 40 });
    const client = await rt.client('erin@example.com');
    client.send({ type: 'chat', message: 'one' });
    await client.next('chunk');
    client.send({ type: 'chat', message: 'two' });
    const error = await client.next('error');
    expect(error.code).toBe(ErrorCode.Busy);
    const done = await client.next('done');
    expect(done.reason).toBe('complete');
    expect(textOf(client.messages)).toBe('abcd');
    expect(rt.ollama.requests).toHaveLength(1);
  });

  it('Ollama down: the chat gets an error saying what to run, the actor returns to idle, and works once Ollama is back', async () => {
    await rt.ollama.stop();
    const client = await rt.client('frank@example.com');
    const turn = await client.chat('Hello?');
    const error = turn.find((m) => m.type === 'error');
    expect(error).toMatchObject({ code: ErrorCode.LlmUnavailable });
    expect(error && 'message' in error ? error.message : '').toContain(rt.ollama.url);
    expect(error && 'message' in error ? error.message : '').toContain('ollama serve');
    expect(turn.at(-1)).toMatchObject({ type: 'done', reason: 'error' });

    const health = (await (await fetch(`${rt.httpUrl}/health`)).json()) as { status: string; llm: { status: string; message: string } };
    expect(health.status).toBe('degraded');
    expect(health.llm.status).toBe('unreachable');

    await rt.ollama.restart();
    rt.ollama.enqueue({ tokens: ['Back'] });
    expect(textOf(await client.chat('Hello again'))).toBe('Back');
  });

  it('a missing model gets an error telling the user to ollama pull it', async () => {
    rt.ollama.setModels(['qwen2.5:3b']);
    const client = await rt.client('gina@example.com');
    const turn = await client.chat('Hi');
    const error = turn.find((m) => m.type === 'error');
    expect(error).toMatchObject({ code: ErrorCode.ModelNotFound });
    expect(error && 'message' in error ? error.message : '').toContain('ollama pull llama3.1:8b');
  });

  it('an LLM stream that breaks mid-answer is an llm_error; the partial answer is kept as interrupted', async () => {
    rt.ollama.enqueue({ tokens: ['Début', ' de', ' réponse', ' perdue'], dropAfterChunks: 2, delayMs: 30 });
    const client = await rt.client('hank@example.com');
    const turn = await client.chat('Go');
    expect(turn.find((m) => m.type === 'error')).toMatchObject({ code: ErrorCode.LlmError });
    expect(turn.at(-1)).toMatchObject({ type: 'done', reason: 'error' });
    client.send({ type: 'resume', conversation_id: conversationIdOf(turn) });
    const history = await client.next('history');
    expect(history.state).toBe('idle');
    expect(history.messages).toEqual([
      { role: 'user', content: 'Go' },
      { role: 'assistant', content: 'Début de', interrupted: true },
    ]);
  });

  it('a dropped socket does not stop the answer: it finishes, is persisted, and a new socket gets it', async () => {
    rt.ollama.enqueue({ tokens: WORDS, delayMs: 30 });
    const first = await rt.client('ivy@example.com');
    first.send({ type: 'chat', message: 'Liste' });
    const id = (await first.next('history')).conversation_id;
    await first.next('chunk');
    await first.close();

    await rt.ollama.waitForRequests(1);
    const second = await rt.client('ivy@example.com');
    second.send({ type: 'resume', conversation_id: id });
    await second.next('history');
    await second.next('done');
    expect(rt.ollama.requests[0]!.aborted).toBe(false);
    second.send({ type: 'resume', conversation_id: id });
    const history = await second.next('history');
    expect(history.messages.at(-1)).toEqual({ role: 'assistant', content: WORDS.join('') });
  });

  it('a client reconnecting mid-stream with its last seq gets the rest exactly once', async () => {
    rt.ollama.enqueue({ tokens: WORDS, delayMs: 40 });
    const first = await rt.client('jane@example.com');
    first.send({ type: 'chat', message: 'Liste' });
    const id = (await first.next('history')).conversation_id;
    await first.next('chunk');
    const secondChunk = await first.next('chunk');
    await first.close();
    const seen = first.messages.filter((m) => m.type === 'chunk').map((m) => (m.type === 'chunk' ? m.text : ''));
    // Let a few tokens go by while nobody listens.
    await new Promise((resolve) => setTimeout(resolve, 120));

    const again = await rt.client('jane@example.com');
    again.send({ type: 'resume', conversation_id: id, last_seq: secondChunk.seq });
    const resumed = await again.next('resumed');
    expect(resumed.replayed).toBeGreaterThan(0);
    await again.next('done');
    const rest = again.messages.filter((m) => m.type === 'chunk').map((m) => (m.type === 'chunk' ? m.text : ''));
    expect([...seen, ...rest]).toEqual(WORDS);
    expect(again.messages.some((m) => m.type === 'history')).toBe(false);
  });

  it('a client too far behind the replay buffer gets a history with the draft, then the live rest, exactly once', async () => {
    await rt.close();
    rt = await TestRuntime.start({ mcp: false, config: { conversation: { replay_buffer_events: 16 } } });
    const tokens = Array.from({ length: 40 }, (_, i) => `t${i} `);
    rt.ollama.enqueue({ tokens, delayMs: 15 });
    const first = await rt.client('kim@example.com');
    first.send({ type: 'chat', message: 'Long' });
    const id = (await first.next('history')).conversation_id;
    await first.next('chunk', (m) => m.text === 't1 ');
    await first.close();
    await new Promise((resolve) => setTimeout(resolve, 350));

    const again = await rt.client('kim@example.com');
    again.send({ type: 'resume', conversation_id: id, last_seq: 1 });
    const history = await again.next('history');
    expect(history.state).toBe('streaming');
    await again.next('done');
    const rest = again.messages.filter((m) => m.type === 'chunk');
    expect(rest.every((m) => m.seq > history.seq)).toBe(true);
    expect(history.draft + textOf(rest)).toBe(tokens.join(''));
  });

  it('resumes a conversation after a server restart, with its history as the LLM context', async () => {
    rt.ollama.enqueue({ tokens: ['Première', ' réponse'] }, { tokens: ['Suite'] });
    const client = await rt.client('leo@example.com');
    const turn = await client.chat('Premier message');
    const id = conversationIdOf(turn);
    const lastSeq = turn.at(-1)!.type === 'done' ? (turn.at(-1) as { seq: number }).seq : 0;
    await client.close();

    await rt.restart();
    const after = await rt.client('leo@example.com');
    after.send({ type: 'resume', conversation_id: id, last_seq: lastSeq });
    expect(await after.next('resumed')).toEqual({ type: 'resumed', conversation_id: id, seq: lastSeq, replayed: 0 });
    after.send({ type: 'resume', conversation_id: id });
    const history = await after.next('history');
    expect(history.messages).toEqual([
      { role: 'user', content: 'Premier message' },
      { role: 'assistant', content: 'Première réponse' },
    ]);
    expect(history.seq).toBe(lastSeq);

    const next = await after.chat('Deuxième');
    expect(textOf(next)).toBe('Suite');
    const seqs = next.flatMap((m) => ('seq' in m ? [m.seq as number] : []));
    expect(Math.min(...seqs)).toBeGreaterThan(lastSeq);
    expect(rt.ollama.requests[1]!.body.messages!.slice(1)).toEqual([
      { role: 'user', content: 'Premier message' },
      { role: 'assistant', content: 'Première réponse' },
      { role: 'user', content: 'Deuxième' },
    ]);

  });

  it('lists the user\'s conversations, newest first, and only theirs', async () => {
    const mine = await rt.client('mia@example.com');
    await mine.chat('First topic');
    mine.send({ type: 'new_conversation' });
    const fresh = await mine.next('history');
    await mine.chat('Second topic', { conversation_id: fresh.conversation_id });
    const other = await rt.client('noah@example.com');
    await other.chat('Not yours');

    mine.send({ type: 'list_conversations' });
    const list = await mine.next('conversations');
    expect(list.conversations.map((c) => c.title)).toEqual(['Second topic', 'First topic']);
  });

  it('stops idle actors and restores them from storage on next use', async () => {
    rt.ollama.enqueue({ tokens: ['Avant'] }, { tokens: ['Après'] });
    const client = await rt.client('olga@example.com');
    const turn = await client.chat('Un');
    expect(rt.runtime.hub.size).toBe(1);
    await rt.runtime.hub.sweepIdle(Date.now() + 3_600_000);
    expect(rt.runtime.hub.size).toBe(0);

    const next = await client.chat('Deux');
    expect(textOf(next)).toBe('Après');
    expect(rt.runtime.hub.size).toBe(1);
    const seqs = next.flatMap((m) => ('seq' in m ? [m.seq as number] : []));
    expect(Math.min(...seqs)).toBe((turn.at(-1) as { seq: number }).seq + 1);
    expect(rt.ollama.requests[1]!.body.messages!.slice(1, 3)).toEqual([
      { role: 'user', content: 'Un' },
      { role: 'assistant', content: 'Avant' },
    ]);
  });
});
