import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { ConversationStore } from '../../src/storage/conversation-store.js';
import { FakeOllama } from '../support/fake-ollama.js';
import { TestRuntime } from '../support/runtime-harness.js';
import { textOf } from '../support/ws-client.js';

const IDA = 'ida@example.com';
const TOKENS = Array.from({ length: 60 }, (_, i) => `t${i} `);

describe('Ollama dies mid-answer', () => {
  let ollama: FakeOllama | undefined;
  let rt: TestRuntime | undefined;
  afterEach(async () => {
    await rt?.close();
    await ollama?.close();
  });

  it('the turn ends with done and llm_error, what was streamed is saved as interrupted, and the next turn works once Ollama is back', async () => {
    ollama = await FakeOllama.start();
    const port = Number(new URL(ollama.url).port);
    rt = await TestRuntime.start({ ollama });
    const client = await rt.client(IDA);
    ollama.enqueue({ tokens: TOKENS, delayMs: 30 });
    client.send({ type: 'chat', message: 'Raconte' });
    const conversationId = (await client.next('history')).conversation_id;
    await client.next('chunk');
    await client.next('chunk');
    // The whole server goes, every connection with it, as when the process is killed.
    await ollama.close();
    const turn = await client.until('done', 15_000);
    expect(turn.find((m) => m.type === 'error')).toMatchObject({ code: ErrorCode.LlmError });
    expect(turn.at(-1)).toMatchObject({ type: 'done', reason: 'error' });

    const stored = await new ConversationStore(rt.runtime.db).find(conversationId);
    const answer = stored!.messages.at(-1);
    expect(answer).toMatchObject({ role: 'assistant', interrupted: true });
    // Everything the user saw is what was saved: the text streamed before the death, no more, no less.
    const streamed = client.messages.filter((m) => m.type === 'chunk');
    expect(answer!.role === 'assistant' && answer!.content).toBe(textOf(streamed));

    ollama = await FakeOllama.start({ port });
    ollama.enqueue({ tokens: ['De', ' retour'] });
    expect(textOf(await client.chat('Tu es là ?', { conversation_id: conversationId }, 15_000))).toBe('De retour');
  });
});
