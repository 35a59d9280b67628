import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LlmProviderConfigSchema, type LlmProviderConfig } from '../src/config/schema.js';
import type { ChatMessage } from '../src/conversations/chat-message.js';
import { ErrorCode, LlmRequestError, LlmUnavailableError } from '../src/errors.js';
import { createLlmClient } from '../src/llm/create-llm-client.js';
import { LlmStatus, type LlmChatRequest, type LlmStreamEvent } from '../src/llm/llm-client.js';
import { OpenAiClient } from '../src/llm/openai-client.js';
import { untrustedData } from '../src/llm/untrusted-data.js';
import type { ToolDescriptor } from '../src/mcp/tool-descriptor.js';
import { FakeOpenAi } from './support/fake-openai.js';

const KEY = 'sk-test-0123456789abcdef';
const WEATHER: ToolDescriptor = {
  name: 'get_weather',
  server: 'test',
  remoteName: 'get_weather',
  description: 'Weather for a city',
  inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  annotations: { readOnlyHint: true },
  pinsMailbox: false,
};

function configFor(baseUrl: string, extra: Partial<LlmProviderConfig> = {}): LlmProviderConfig {
  return LlmProviderConfigSchema.parse({ provider: 'openai', model: 'gpt-test', base_url: baseUrl, api_key: KEY, ...extra });
}

function request(messages: ChatMessage[], extra: Partial<LlmChatRequest> = {}): LlmChatRequest {
  return { system: 'You are a test.', messages, tools: [], signal: new AbortController().signal, ...extra };
}

async function collect(stream: AsyncIterable<LlmStreamEvent>): Promise<LlmStreamEvent[]> {
  const events: LlmStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

async function failureOf(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => expect.fail('expected a failure'),
    (error: unknown) => error,
  );
}

/** A port nothing listens on: bound, noted, and released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('OpenAI-compatible client against the fake Chat Completions server', () => {
  let fake: FakeOpenAi;
  let client: OpenAiClient;
  beforeEach(async () => {
    fake = await FakeOpenAi.start({ apiKey: KEY });
    client = new OpenAiClient(configFor(`${fake.url}/v1`), { apiKey: KEY });
  });
  afterEach(async () => {
    await client.close();
    await fake.close();
  });

  it('streams text token by token and reports usage from the last chunk', async () => {
    fake.enqueue({ tokens: ['Bon', 'jour', ' à', ' vous'] });
    const events = await collect(client.stream(request([{ role: 'user', content: 'Salut' }])));
    expect(events.filter((e) => e.type === 'token').map((e) => (e.type === 'token' ? e.text : ''))).toEqual(['Bon', 'jour', ' à', ' vous']);
    const done = events.at(-1);
    expect(done).toMatchObject({ type: 'done', reason: 'stop', completionTokens: 4 });
    expect(done?.type === 'done' && done.promptTokens).toBeGreaterThan(0);

    const [sent] = fake.requests;
    expect(sent!.authorization).toBe(`Bearer ${KEY}`);
    expect(sent!.body).toMatchObject({ model: 'gpt-test', stream: true, stream_options: { include_usage: true }, temperature: 0.7, max_tokens: 2000 });
    expect(sent!.body.messages).toEqual([
      { role: 'system', content: 'You are a test.' },
      { role: 'user', content: 'Salut' },
    ]);
    expect(sent!.body.tools).toBeUndefined();
  });

  it('gathers tool calls split over many deltas into one tool_calls event with parsed arguments', async () => {
    const long = { city: 'Paris', note: 'x'.repeat(60), nested: { days: [1, 2, 3] } };
    fake.enqueue({ tokens: ['Je regarde'], toolCalls: [{ name: 'get_weather', arguments: long }, { name: 'get_weather', arguments: { city: 'Lyon' } }], fragmentChars: 3 });
    const events = await collect(client.stream(request([{ role: 'user', content: 'Météo ?' }], { tools: [WEATHER] })));
    expect(events.map((e) => e.type)).toEqual(['token', 'tool_calls', 'done']);
    expect(events[1]).toEqual({ type: 'tool_calls', calls: [{ name: 'get_weather', arguments: long }, { name: 'get_weather', arguments: { city: 'Lyon' } }] });
    expect(events[2]).toMatchObject({ reason: 'tool_calls' });
    expect(fake.requests[0]!.body.tools).toEqual([{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: WEATHER.inputSchema } }]);
  });

  it('sends our tool calls with their ids and the results as tool messages answering them (the server checks the pairing)', async () => {
    fake.enqueue({ tokens: ['Il fait beau'] });
    const history: ChatMessage[] = [
      { role: 'user', content: 'Météo ?' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_ab12cd34', name: 'get_weather', arguments: { city: 'Paris' } }] },
      { role: 'tool', callId: 'call_ab12cd34', toolName: 'get_weather', arguments: { city: 'Paris' }, result: { text: 'Sunny', isError: false } },
    ];
    const events = await collect(client.stream(request(history, { tools: [WEATHER] })));
    expect(events.at(-1)).toMatchObject({ type: 'done', reason: 'stop' });
    expect(fake.requests[0]!.body.messages.slice(2)).toEqual([
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_ab12cd34', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_ab12cd34', content: untrustedData('tool:get_weather', 'Sunny') },
    ]);
  });

  it('fails clearly when the model writes tool arguments that are not JSON', async () => {
    fake.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city": "Par' }], finishReason: 'length' });
    const error = await failureOf(collect(client.stream(request([{ role: 'user', content: 'x' }], { tools: [WEATHER] }))));
    expect(error).toBeInstanceOf(LlmRequestError);
    expect((error as LlmRequestError).message).toMatch(/tool "get_weather" with arguments that are not valid JSON.*max_tokens/);
  });

  it('a wrong API key is a clear 401 error that never repeats the key', async () => {
    const wrong = new OpenAiClient(configFor(`${fake.url}/v1`), { apiKey: 'sk-wrong-secret-9876' });
    const error = await failureOf(collect(wrong.stream(request([{ role: 'user', content: 'x' }]))));
    await wrong.close();
    expect(error).toBeInstanceOf(LlmRequestError);
    expect(error).toMatchObject({ status: 401, code: ErrorCode.LlmError });
    const text = `${(error as Error).message} ${String((error as Error).cause)}`;
    expect(text).toContain('API key');
    expect(text).not.toMatch(/sk-|9876|wrong/);
  });

  it('an unknown model is model_not_found, and health says so', async () => {
    const other = new OpenAiClient(configFor(`${fake.url}/v1`, { model: 'gpt-nope' }), { apiKey: KEY });
    const error = await failureOf(collect(other.stream(request([{ role: 'user', content: 'x' }]))));
    expect(error).toBeInstanceOf(LlmUnavailableError);
    expect(error).toMatchObject({ code: ErrorCode.ModelNotFound });
    expect((error as Error).message).toContain('gpt-nope');
    expect(other.health().status).toBe(LlmStatus.ModelMissing);
    expect((await other.checkHealth()).status).toBe(LlmStatus.ModelMissing);
    await other.close();
  });

  it('keeps the status and Retry-After of a 429, and the status of a 503, for the retry layer above', async () => {
    fake.enqueue({ httpError: { status: 429, message: 'Rate limit reached for gpt-test', code: 'rate_limit_exceeded', retryAfter: '7' } });
    const limited = await failureOf(collect(client.stream(request([{ role: 'user', content: 'x' }]))));
    expect(limited).toBeInstanceOf(LlmRequestError);
    expect(limited).toMatchObject({ status: 429, retryAfterMs: 7000 });
    expect((limited as Error).message).toContain('Rate limit reached');

    fake.enqueue({ httpError: { status: 503, message: 'The engine is currently overloaded' } });
    const overloaded = await failureOf(collect(client.stream(request([{ role: 'user', content: 'x' }]))));
    expect(overloaded).toMatchObject({ status: 503, retryAfterMs: undefined });
    // maxRetries 0: each failure is one request, the retries belong to the layer above.
    expect(fake.requests).toHaveLength(2);
  });

  it('an unreachable server is llm_unavailable naming base_url, and health turns unreachable', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1`;
    const down = new OpenAiClient(configFor(url), { apiKey: KEY });
    const error = await failureOf(collect(down.stream(request([{ role: 'user', content: 'x' }]))));
    expect(error).toBeInstanceOf(LlmUnavailableError);
    expect(error).toMatchObject({ code: ErrorCode.LlmUnavailable, baseUrl: url });
    expect((error as Error).message).toContain(url);
    expect((await down.checkHealth()).status).toBe(LlmStatus.Unreachable);
    await down.close();
  });

  it('aborting the signal closes the HTTP stream: the server sees the connection go', async () => {
    fake.enqueue({ tokens: ['Un', ' long', ' texte'], hang: true });
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const event of client.stream(request([{ role: 'user', content: 'Raconte' }], { signal: controller.signal }))) {
      if (event.type === 'token') seen.push(event.text);
      if (seen.length === 3) controller.abort();
    }
    await fake.waitForAbort(0);
    expect(seen).toEqual(['Un', ' long', ' texte']);
    expect(fake.streamsOpened).toBe(1);
    expect(fake.openStreams).toBe(0);
  });

  it('complete() answers with one non-streamed completion, on the model asked for', async () => {
    const fakeWithTwo = await FakeOpenAi.start({ models: ['gpt-test', 'gpt-mini'] });
    const keyless = new OpenAiClient(configFor(`${fakeWithTwo.url}/v1`, { api_key: '' }), { apiKey: '' });
    fakeWithTwo.enqueue({ tokens: ['Un', ' résumé'] });
    expect(await keyless.complete({ system: 'Résume', prompt: 'Un long mail', model: 'gpt-mini' })).toBe('Un résumé');
    const [sent] = fakeWithTwo.requests;
    expect(sent!.body).toMatchObject({ model: 'gpt-mini', stream: false });
    expect(sent!.body.messages.at(-1)).toEqual({ role: 'user', content: 'Un long mail' });
    // vLLM, llama.cpp and co. take no key: none is invented for them.
    expect(sent!.authorization).toBeUndefined();
    await keyless.close();
    await fakeWithTwo.close();
  });

  it('health: ok when /models lists the model; ok when the server has no /models; a base_url without /v1 is named', async () => {
    expect(await client.checkHealth()).toMatchObject({ status: LlmStatus.Ok, baseUrl: `${fake.url}/v1`, model: 'gpt-test' });

    const bare = await FakeOpenAi.start({ listModels: false });
    const noList = new OpenAiClient(configFor(`${bare.url}/v1`), { apiKey: KEY });
    expect((await noList.checkHealth()).status).toBe(LlmStatus.Ok);
    await noList.close();
    await bare.close();

    const noV1 = new OpenAiClient(configFor(fake.url), { apiKey: KEY });
    const error = await failureOf(collect(noV1.stream(request([{ role: 'user', content: 'x' }]))));
    expect(error).toMatchObject({ status: 404 });
    expect((error as Error).message).toContain('ends in /v1');
    await noV1.close();
  });

  it('[llm] provider = "openai" builds this client, with the key from OPENAI_API_KEY when api_key is unset', async () => {
    const llm = createLlmClient(configFor(`${fake.url}/v1`, { api_key: '' }), { OPENAI_API_KEY: KEY });
    expect(llm).toBeInstanceOf(OpenAiClient);
    fake.enqueue({ tokens: ['ok'] });
    expect(await llm.complete({ system: 's', prompt: 'p' })).toBe('ok');
    expect(fake.requests[0]!.authorization).toBe(`Bearer ${KEY}`);
    await llm.close();
    await llm.close();
  });
});
