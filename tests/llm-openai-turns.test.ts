import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { untrustedData } from '../src/llm/untrusted-data.js';
import { triageSystemPrompt } from '../src/triage/triage-prompt.js';
import type { ServerMessage } from '../src/protocol/protocol.js';
import { FakeOpenAi } from './support/fake-openai.js';
import { TestRedis } from './support/redis-launcher.js';
import { TestRuntime } from './support/runtime-harness.js';
import { textOf, typesOf } from './support/ws-client.js';
import { triageAnswer } from './support/triage-answers.js';

type Of<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;
const only = <T extends ServerMessage['type']>(messages: readonly ServerMessage[], type: T): Of<T>[] =>
  messages.filter((m): m is Of<T> => m.type === type);

const KEY = 'sk-test';
const WORDS = ['Voici', ' vos', ' emails', ' du', ' jour', '.'];

/** Whole turns through the runtime with `[llm] provider = "openai"`: socket → machine → SDK → HTTP → fake server. */
describe('a conversation on an OpenAI-compatible provider', () => {
  let fake: FakeOpenAi;
  let rt: TestRuntime | undefined;
  beforeEach(async () => {
    fake = await FakeOpenAi.start({ apiKey: KEY });
  });
  afterEach(async () => {
    await rt?.close();
    rt = undefined;
    await fake.close();
  });
  const start = async (mcp = true): Promise<TestRuntime> => {
    // The harness points `llm.base_url` at its fake Ollama unless the test's `llm` says otherwise.
    rt = await TestRuntime.start({ mcp, config: { llm: { provider: 'openai', base_url: `${fake.url}/v1`, model: 'gpt-test', api_key: KEY } } });
    return rt;
  };

  it('streams a plain answer to the socket token by token, and /health is ok', async () => {
    const runtime = await start(false);
    fake.enqueue({ tokens: WORDS, delayMs: 5 });
    const client = await runtime.client('alice@example.com');
    const turn = await client.chat('Liste mes emails');

    expect(only(turn, 'chunk').map((m) => m.text)).toEqual(WORDS);
    expect(typesOf(turn)).toEqual(['history', 'state:thinking', 'state:streaming', ...WORDS.map(() => 'chunk'), 'state:done', 'state:idle', 'done']);
    expect(turn.at(-1)).toMatchObject({ type: 'done', reason: 'complete', cancelled: false });
    expect(fake.requests[0]!.body.messages[0]).toMatchObject({ role: 'system', content: expect.stringContaining('alice@example.com') });
    expect(fake.requests[0]!.authorization).toBe(`Bearer ${KEY}`);

    const health = (await (await fetch(`${runtime.httpUrl}/health`)).json()) as { llm: { status: string; model: string } };
    expect(health.llm).toMatchObject({ status: 'ok', model: 'gpt-test' });
  });

  it('runs a tool call streamed in fragments through MCP, then streams the follow-up answer', async () => {
    const runtime = await start();
    fake.enqueue({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }], fragmentChars: 2 }, { tokens: ['Il', ' fait', ' beau'] });
    const client = await runtime.client('tom@example.com');
    const turn = await client.chat('Quel temps à Paris ?');

    const [call] = only(turn, 'tool_call');
    expect(call).toMatchObject({ tool: 'get_weather', args: { city: 'Paris' } });
    expect(only(turn, 'tool_result')[0]).toMatchObject({ call_id: call!.call_id, result: 'Sunny, 21°C in Paris', is_error: false });
    expect(textOf(turn)).toBe('Il fait beau');
    expect(runtime.mcp!.calls).toEqual([{ name: 'get_weather', arguments: { city: 'Paris' }, aborted: false }]);

    expect(fake.requests[0]!.body.tools!.map((t) => t.function.name)).toEqual(expect.arrayContaining(['get_weather', 'delete_note']));
    // The follow-up carries our call id on both sides (the fake refuses unpaired tool messages, as OpenAI does).
    expect(fake.requests[1]!.body.messages.slice(-2)).toEqual([
      { role: 'assistant', content: null, tool_calls: [{ id: call!.call_id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: call!.call_id, content: untrustedData('tool:get_weather', 'Sunny, 21°C in Paris') },
    ]);
  });

  it('cancel mid-answer closes the HTTP stream (the server sees it) and ends the turn cancelled', async () => {
    const runtime = await start(false);
    fake.enqueue({ tokens: ['Un', ' long', ' texte'], hang: true }, { tokens: ['Après'] });
    const client = await runtime.client('carol@example.com');
    client.send({ type: 'chat', message: 'Raconte' });
    await client.next('chunk', (m) => m.text === ' texte');
    expect(fake.openStreams).toBe(1);
    client.send({ type: 'cancel' });
    await fake.waitForAbort(0);
    expect(await client.next('done')).toMatchObject({ reason: 'cancelled', cancelled: true });
    expect(fake.openStreams).toBe(0);

    // The conversation goes on, and the model sees what the user saw of the cut answer.
    expect(textOf(await client.chat('Autre chose'))).toBe('Après');
    expect(fake.requests[1]!.body.messages.slice(1, 3)).toEqual([
      { role: 'user', content: 'Raconte' },
      { role: 'assistant', content: 'Un long texte' },
    ]);
  });

  it('a destructive tool waits for approval; once approved it runs and the answer follows', async () => {
    const runtime = await start();
    fake.enqueue({ toolCalls: [{ name: 'delete_note', arguments: { id: 'n7' } }] }, { tokens: ['Note', ' supprimée'] });
    const client = await runtime.client('ida@example.com');
    client.send({ type: 'chat', message: 'Supprime la note n7' });
    const request = await client.next('approval_required');
    expect(request).toMatchObject({ tool: 'delete_note', args: { id: 'n7' } });
    expect(runtime.mcp!.calls).toHaveLength(0);
    expect(fake.requests).toHaveLength(1);

    client.send({ type: 'approve', call_id: request.call_id });
    const turn = await client.until('done');
    expect(runtime.mcp!.calls).toEqual([{ name: 'delete_note', arguments: { id: 'n7' }, aborted: false }]);
    expect(only(turn, 'tool_result')[0]).toMatchObject({ call_id: request.call_id, result: 'Deleted note n7', is_error: false });
    expect(textOf(turn)).toBe('Note supprimée');
    expect(fake.requests[1]!.body.messages.at(-1)).toMatchObject({ role: 'tool', tool_call_id: request.call_id });
  });

  it('a rate-limited provider gives the user an llm_error with the status, and the next message works', async () => {
    const runtime = await start(false);
    fake.enqueue({ httpError: { status: 429, message: 'Rate limit reached for gpt-test', retryAfter: '2' } }, { tokens: ['ok'] });
    const client = await runtime.client('lee@example.com');
    const turn = await client.chat('Hello?');
    expect(only(turn, 'error')[0]).toMatchObject({ code: ErrorCode.LlmError, message: expect.stringContaining('429') });
    expect(turn.at(-1)).toMatchObject({ type: 'done', reason: 'error' });
    expect(textOf(await client.chat('Again'))).toBe('ok');
  });
});

describe('summaries on an OpenAI-compatible provider', () => {
  let redis: TestRedis;
  let fake: FakeOpenAi;
  let rt: TestRuntime | undefined;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis.close());
  beforeEach(async () => {
    fake = await FakeOpenAi.start({ models: ['gpt-test', 'gpt-mini'] });
  });
  afterEach(async () => {
    await rt?.close();
    rt = undefined;
    await fake.close();
  });

  it('POST /api/generate-summary answers with one non-streamed completion on the summarization model', async () => {
    rt = await TestRuntime.start({
      mcp: false,
      redisUrl: redis.url,
      config: { llm: { provider: 'openai', base_url: `${fake.url}/v1`, model: 'gpt-test' }, summarization: { model: 'gpt-mini' } },
    });
    await rt.runtime.notificationsReady;
    fake.enqueue({ json: triageAnswer('Réunion demain à 15h.') });
    const body = { user_email: 'alice@example.com', email_id: 'openai.eml', from: 'sender@example.com', subject: 'Meeting', body: "Let's meet at 3pm" };
    const response = await fetch(`${rt.httpUrl}/api/generate-summary`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ summary: 'Réunion demain à 15h.' });
    const [sent] = fake.requests;
    expect(sent!.body).toMatchObject({ model: 'gpt-mini', stream: false });
    expect(sent!.body.messages[0]).toEqual({ role: 'system', content: triageSystemPrompt([]) });
    expect(sent!.body.response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'email_triage', strict: true } });
    expect(sent!.body.messages[1]!.content).toContain("Let's meet at 3pm");
  });
});
