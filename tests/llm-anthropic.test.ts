import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LlmProviderConfigSchema, type ConfigInput } from '../src/config/schema.js';
import type { ChatMessage } from '../src/conversations/chat-message.js';
import { ConfigError, ErrorCode, LlmRequestError, LlmUnavailableError } from '../src/errors.js';
import { createLlmClient } from '../src/llm/create-llm-client.js';
import { LlmStatus, type LlmClient, type LlmStreamEvent } from '../src/llm/llm-client.js';
import { untrustedData } from '../src/llm/untrusted-data.js';
import type { ToolDescriptor } from '../src/mcp/tool-descriptor.js';
import { FakeAnthropic } from './support/fake-anthropic.js';

type ProviderInput = NonNullable<ConfigInput['llm']>;

const tool = (name: string): ToolDescriptor => ({
  name,
  server: 'test',
  remoteName: name,
  description: `The ${name} tool`,
  inputSchema: { type: 'object', properties: { city: { type: 'string' } } },
  annotations: {},
  pinsMailbox: false,
});

/** Everything one stream yields, or the error it threw. */
async function drain(stream: AsyncIterable<LlmStreamEvent>): Promise<{ events: LlmStreamEvent[]; error?: unknown }> {
  const events: LlmStreamEvent[] = [];
  try {
    for await (const event of stream) events.push(event);
    return { events };
  } catch (error) {
    return { events, error };
  }
}

const tokensOf = (events: readonly LlmStreamEvent[]) => events.flatMap((e) => (e.type === 'token' ? [e.text] : []));

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('Anthropic client against a fake Messages API, through the official SDK', () => {
  let fake: FakeAnthropic;
  const clients: LlmClient[] = [];
  const client = (overrides: Partial<ProviderInput> = {}): LlmClient => {
    const entry = LlmProviderConfigSchema.parse({ provider: 'anthropic', base_url: fake.url, model: 'claude-test', api_key: 'test-key', ...overrides });
    const made = createLlmClient(entry, {});
    clients.push(made);
    return made;
  };
  const ask = (llm: LlmClient, options: { messages?: ChatMessage[]; tools?: ToolDescriptor[]; signal?: AbortSignal } = {}) =>
    llm.stream({ system: 'You are a test.', messages: options.messages ?? [{ role: 'user', content: 'Hi' }], tools: options.tools ?? [], signal: options.signal ?? new AbortController().signal });

  beforeEach(async () => {
    fake = await FakeAnthropic.start({ minCacheableTokens: 0 });
  });
  afterEach(async () => {
    for (const made of clients.splice(0)) await made.close();
    await fake.close();
  });

  it('streams text deltas as tokens and ends with done and the usage', async () => {
    fake.enqueue({ text: ['Bon', 'jour', ' à', ' vous'] });
    const { events, error } = await drain(ask(client()));
    expect(error).toBeUndefined();
    expect(tokensOf(events)).toEqual(['Bon', 'jour', ' à', ' vous']);
    expect(events.at(-1)).toMatchObject({ type: 'done', reason: 'end_turn', completionTokens: 4 });
    const request = fake.requests[0]!;
    expect(request.body).toMatchObject({ model: 'claude-test', max_tokens: 2000, stream: true, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] });
    expect(request.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('gathers a tool_use whose input comes in many input_json_delta pieces into one tool_calls event', async () => {
    const input = { city: 'Saint-Étienne', days: 3, options: { units: 'metric', hourly: [6, 12, 18] } };
    fake.enqueue({ text: ['Je regarde.'], toolUses: [{ name: 'get_weather', input }, { name: 'add', input: {} }], jsonPieceChars: 3 });
    const { events, error } = await drain(ask(client(), { tools: [tool('get_weather'), tool('add')] }));
    expect(error).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['token', 'tool_calls', 'done']);
    expect(events[1]).toEqual({ type: 'tool_calls', calls: [{ name: 'get_weather', arguments: input }, { name: 'add', arguments: {} }] });
    expect(events[2]).toMatchObject({ reason: 'tool_use' });
  });

  it('marks the system prompt and the last tool with cache_control, and reports cache writes then reads', async () => {
    const llm = client();
    const tools = [tool('a'), tool('b'), tool('c')];
    const first = await drain(ask(llm, { tools }));
    const second = await drain(ask(llm, { tools, messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }, { role: 'user', content: 'Again' }] }));

    const body = fake.requests[0]!.body;
    expect(body.system).toEqual([{ type: 'text', text: 'You are a test.', cache_control: { type: 'ephemeral' } }]);
    expect(body.tools!.map((t) => t['cache_control'])).toEqual([undefined, undefined, { type: 'ephemeral' }]);

    const done = (events: LlmStreamEvent[]) => events.find((e): e is Extract<LlmStreamEvent, { type: 'done' }> => e.type === 'done')!;
    const [u1, u2] = [fake.requests[0]!.usage!, fake.requests[1]!.usage!];
    expect(u1.cache_read_input_tokens).toBe(0);
    expect(u1.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(u2.cache_read_input_tokens).toBe(u1.cache_creation_input_tokens);
    // promptTokens is the whole prompt: what was read from the cache, written to it, and the rest.
    expect(done(first.events)).toMatchObject({ cacheReadTokens: 0, cacheCreationTokens: u1.cache_creation_input_tokens, promptTokens: u1.input_tokens + u1.cache_creation_input_tokens });
    expect(done(second.events)).toMatchObject({ cacheReadTokens: u2.cache_read_input_tokens, promptTokens: u2.input_tokens + u2.cache_read_input_tokens + u2.cache_creation_input_tokens });
  });

  it('sends tool calls as tool_use blocks with our ids and their results as one user message of tool_result blocks', async () => {
    const history: ChatMessage[] = [
      { role: 'user', content: 'Météo et somme ?' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } }, { id: 'call_2', name: 'add', arguments: { a: 1 } }] },
      { role: 'tool', callId: 'call_1', toolName: 'get_weather', arguments: { city: 'Paris' }, result: { text: 'Sunny', isError: false } },
      { role: 'tool', callId: 'call_2', toolName: 'add', arguments: { a: 1 }, result: { text: 'b is missing', isError: true } },
      // An answer cancelled before its first token: nothing to send, and the two user turns around it become one.
      { role: 'assistant', content: '', interrupted: true },
      { role: 'user', content: 'Alors ?' },
    ];
    const { error } = await drain(ask(client(), { messages: history, tools: [tool('get_weather'), tool('add')] }));
    expect(error).toBeUndefined();
    expect(fake.requests[0]!.body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Météo et somme ?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'add', input: { a: 1 } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: untrustedData('tool:get_weather', 'Sunny'), is_error: false },
          { type: 'tool_result', tool_use_id: 'call_2', content: untrustedData('tool:add', 'b is missing'), is_error: true },
          { type: 'text', text: 'Alors ?' },
        ],
      },
    ]);
  });

  it('answers complete() with one non-streamed message', async () => {
    fake.enqueue({ text: ['Un résumé', ' court.'] });
    await expect(client().complete({ system: 'Summarize.', prompt: 'A long email' })).resolves.toBe('Un résumé court.');
    expect(fake.requests[0]!.body.stream).toBeUndefined();
  });

  it('a refused key is a clear error that never shows the key', async () => {
    const { error } = await drain(ask(client({ api_key: 'sk-ant-secret-wrong' })));
    expect(error).toBeInstanceOf(LlmRequestError);
    expect(error).toMatchObject({ status: 401, code: ErrorCode.LlmError });
    expect((error as Error).message).toMatch(/refused the API key.*ANTHROPIC_API_KEY/);
    expect((error as Error).message).not.toContain('sk-ant-secret-wrong');
  });

  it('an unknown model is model_not_found, and the health check says so too', async () => {
    const llm = client({ model: 'claude-nope' });
    const { error } = await drain(ask(llm));
    expect(error).toBeInstanceOf(LlmUnavailableError);
    expect(error).toMatchObject({ code: ErrorCode.ModelNotFound, baseUrl: fake.url });
    expect((error as Error).message).toContain('claude-nope');
    expect(await llm.checkHealth()).toMatchObject({ status: LlmStatus.ModelMissing });
    expect(await client().checkHealth()).toMatchObject({ status: LlmStatus.Ok, model: 'claude-test' });
  });

  it('keeps the status and retry-after of a 429, and the status of 500 and 529 (no SDK retries underneath)', async () => {
    fake.enqueue(
      { httpError: { status: 429, type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit', retryAfter: '7' } },
      { httpError: { status: 500, type: 'api_error', message: 'Internal server error' } },
      { httpError: { status: 529, type: 'overloaded_error', message: 'Overloaded' } },
    );
    const llm = client();
    const errors = [(await drain(ask(llm))).error, (await drain(ask(llm))).error, (await drain(ask(llm))).error];
    expect(errors.map((e) => e instanceof LlmRequestError && [e.status, e.retryAfterMs])).toEqual([[429, 7000], [500, undefined], [529, undefined]]);
    expect((errors[0] as Error).message).toContain('rate_limit_error');
    expect(fake.requests).toHaveLength(3);
  });

  it('an overloaded_error event mid-stream is an error with status 529, after the tokens already sent', async () => {
    fake.enqueue({ text: ['Début', ' de', ' réponse', ' coupée'], streamError: { afterEvents: 5, type: 'overloaded_error', message: 'Overloaded' } });
    const { events, error } = await drain(ask(client()));
    expect(tokensOf(events)).toEqual(['Début', ' de']);
    expect(error).toBeInstanceOf(LlmRequestError);
    expect(error).toMatchObject({ status: 529, code: ErrorCode.LlmError });
    expect((error as Error).message).toContain('overloaded_error');
  });

  it('an unreachable server is llm_unavailable, naming base_url', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const llm = client({ base_url: url });
    const { error } = await drain(ask(llm));
    expect(error).toBeInstanceOf(LlmUnavailableError);
    expect(error).toMatchObject({ code: ErrorCode.LlmUnavailable, baseUrl: url });
    expect((error as Error).message).toContain(url);
    expect(await llm.checkHealth()).toMatchObject({ status: LlmStatus.Unreachable });
  });

  it('aborting the signal closes the HTTP stream on the server', async () => {
    fake.enqueue({ text: ['Un', ' très', ' long', ' texte'], hang: true });
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const event of ask(client(), { signal: controller.signal })) {
      if (event.type === 'token') seen.push(event.text);
      if (seen.length === 2) controller.abort();
    }
    await fake.waitForAbort(0);
    await fake.waitFor(() => fake.openStreams === 0, 'the stream to close');
    expect(fake.openedStreams).toBe(1);
    expect(seen).toEqual(['Un', ' très']);
  });

  it('refuses to start without an API key', () => {
    const entry = LlmProviderConfigSchema.parse({ provider: 'anthropic', model: 'claude-test' });
    expect(() => createLlmClient(entry, {})).toThrow(ConfigError);
    expect(() => createLlmClient(entry, { ANTHROPIC_API_KEY: 'from-env' }).close()).not.toThrow();
  });
});
