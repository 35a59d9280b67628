import { describe, it, expect, afterEach } from 'vitest';
import { Ollama } from 'ollama';
import type { ChatResponse } from 'ollama';
import { FakeOllama } from './support/fake-ollama.js';
import { machineMicros } from './support/fake-ollama-wire.js';

const MODEL = 'llama3.1:8b';
const USER = [{ role: 'user', content: 'What is the weather in Paris?' }];

let fake: FakeOllama | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function setup(models?: string[]): Promise<{ fake: FakeOllama; ollama: Ollama }> {
  fake = await FakeOllama.start(models === undefined ? {} : { models });
  return { fake, ollama: new Ollama({ host: fake.url }) };
}

async function collect(stream: AsyncIterable<ChatResponse>): Promise<ChatResponse[]> {
  const parts: ChatResponse[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

describe('FakeOllama through the real ollama client', () => {
  it('streams tokens in order, then a final chunk with stats', async () => {
    const { fake, ollama } = await setup();
    fake.enqueue({ tokens: ['The', ' sky', ' is', ' blue'], doneReason: 'length' });
    const parts = await collect(await ollama.chat({ model: MODEL, messages: USER, stream: true }));

    expect(parts.map((p) => p.message.content)).toEqual(['The', ' sky', ' is', ' blue', '']);
    expect(parts.slice(0, -1).every((p) => !p.done)).toBe(true);
    const last = parts.at(-1);
    expect(last).toMatchObject({ done: true, done_reason: 'length', eval_count: 4, model: MODEL });
    expect(last?.prompt_eval_count).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(String(last?.created_at)))).toBe(false);
    expect(fake.requests[0]).toMatchObject({ aborted: false, finished: true });
    expect(fake.requests[0]?.body).toMatchObject({ model: MODEL, stream: true, messages: USER });
  });

  it('answers with the default script when the queue is empty', async () => {
    const { ollama } = await setup();
    const parts = await collect(await ollama.chat({ model: MODEL, messages: USER, stream: true }));
    expect(parts.map((p) => p.message.content).join('')).toBe('Hello from fake Ollama');
    expect(parts.at(-1)?.done_reason).toBe('stop');
  });

  it('sends tool calls whole in one non-final chunk and records the tools sent', async () => {
    const { fake, ollama } = await setup();
    const args = { city: 'Paris', days: 2, units: { temp: 'C' } };
    fake.enqueue({ tokens: ['Checking'], toolCalls: [{ name: 'get_weather', arguments: args }] });
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object' } } }];
    const parts = await collect(await ollama.chat({ model: MODEL, messages: USER, tools, stream: true }));

    const withCalls = parts.filter((p) => (p.message.tool_calls?.length ?? 0) > 0);
    expect(withCalls).toHaveLength(1);
    expect(withCalls[0]?.done).toBe(false);
    expect(withCalls[0]?.message.tool_calls).toEqual([{ function: { name: 'get_weather', arguments: args } }]);
    expect(parts.indexOf(withCalls[0] as ChatResponse)).toBe(1);
    expect(parts.at(-1)?.done).toBe(true);
    expect(fake.requests[0]?.body.tools?.[0]?.function.name).toBe('get_weather');
  });

  it('replies with one JSON object when stream is false', async () => {
    const { fake, ollama } = await setup();
    fake.enqueue({ tokens: ['a', 'b'], toolCalls: [{ name: 'f', arguments: { x: 1 } }] });
    const res = await ollama.chat({ model: MODEL, messages: USER, stream: false });
    expect(res).toMatchObject({ done: true, done_reason: 'stop', message: { role: 'assistant', content: 'ab' } });
    expect(res.message.tool_calls).toEqual([{ function: { name: 'f', arguments: { x: 1 } } }]);
    expect(fake.requests[0]?.body.stream).toBe(false);
  });

  it('records a format schema and sends a scripted JSON answer as JSON text, whole or streamed in pieces', async () => {
    const { fake, ollama } = await setup();
    const format = { type: 'object', properties: { category: { type: 'string', enum: ['work', 'spam'] } }, required: ['category'] };
    const answer = { category: 'work', reason: 'from a colleague, about the Q3 budget' };
    fake.enqueue({ json: answer }, { json: answer });
    const whole = await ollama.chat({ model: MODEL, messages: USER, stream: false, format });
    expect(whole).toMatchObject({ done: true, done_reason: 'stop', message: { content: JSON.stringify(answer) } });
    expect(fake.requests[0]?.body.format).toEqual(format);

    const parts = await collect(await ollama.chat({ model: MODEL, messages: USER, stream: true, format: 'json' }));
    expect(parts.length).toBeGreaterThan(3);
    expect(JSON.parse(parts.map((p) => p.message.content).join(''))).toEqual(answer);
    expect(fake.requests[1]?.body.format).toBe('json');
  });

  it('cuts a JSON answer short with done_reason "length", as num_predict does, and refuses a format it cannot use', async () => {
    const { fake, ollama } = await setup();
    fake.enqueue({ json: { category: 'newsletter', priority: 'low' }, truncateJsonAt: 15 });
    const cut = await ollama.chat({ model: MODEL, messages: USER, stream: false, format: { type: 'object' }, options: { num_predict: 4 } });
    expect(cut.done_reason).toBe('length');
    expect(cut.message.content).toBe('{"category":"ne');
    expect(() => JSON.parse(cut.message.content)).toThrow(SyntaxError);

    await expect(ollama.chat({ model: MODEL, messages: USER, format: 'yaml' })).rejects.toMatchObject({
      status_code: 400,
      message: 'invalid format: "yaml"; expected "json" or a valid JSON Schema object',
    });
  });

  it('streams NDJSON by default when the request omits stream', async () => {
    const { fake } = await setup();
    const res = await fetch(`${fake.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: MODEL, messages: USER }) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { done: boolean });
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.map((l) => l.done)).toEqual([...lines.slice(1).map(() => false), true]);
    const malformed = await fetch(`${fake.url}/api/chat`, { method: 'POST', body: '{"model":' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toHaveProperty('error');
  });

  it('lists, shows and versions the configured models', async () => {
    const { fake, ollama } = await setup(['llama3.1:8b', 'qwen3']);
    const list = await ollama.list();
    expect(list.models.map((m) => m.name)).toEqual(['llama3.1:8b', 'qwen3:latest']);
    expect(list.models[0]?.details).toMatchObject({ format: 'gguf', family: 'llama', quantization_level: 'Q4_K_M' });
    expect(list.models[0]?.digest).toMatch(/^[0-9a-f]{64}$/);

    const show = await ollama.show({ model: 'qwen3' });
    expect(show.capabilities).toEqual(['completion', 'tools']);
    expect(show.details.parameter_size).toBe('8.0B');
    const legacy = await fetch(`${fake.url}/api/show`, { method: 'POST', body: JSON.stringify({ name: MODEL }) });
    expect(legacy.status).toBe(200);

    fake.setModels(['mistral:7b']);
    expect((await ollama.list()).models.map((m) => m.model)).toEqual(['mistral:7b']);
    expect(await ollama.version()).toEqual({ version: '0.12.0' });
    expect(await (await fetch(`${fake.url}/`)).text()).toBe('Ollama is running');
  });

  it('404s show and chat for unknown models, with the real error shapes', async () => {
    const { fake, ollama } = await setup();
    await expect(ollama.show({ model: 'missing:1b' })).rejects.toMatchObject({
      name: 'ResponseError',
      status_code: 404,
      error: "model 'missing:1b' not found",
    });
    await expect(ollama.chat({ model: 'nope', messages: USER, stream: true })).rejects.toMatchObject({
      name: 'ResponseError',
      status_code: 404,
      message: 'model "nope" not found, try pulling it first',
    });
    // The queued script must survive the 404 and answer the next valid request.
    fake.enqueue({ tokens: ['kept'] });
    await expect(ollama.chat({ model: 'nope', messages: USER })).rejects.toMatchObject({ status_code: 404 });
    expect((await ollama.chat({ model: MODEL, messages: USER })).message.content).toBe('kept');
  });

  it('replies with a scripted HTTP error', async () => {
    const { fake, ollama } = await setup();
    fake.enqueue({ httpError: { status: 500, message: 'llama runner process has terminated' } });
    await expect(ollama.chat({ model: MODEL, messages: USER, stream: true })).rejects.toMatchObject({
      status_code: 500,
      message: 'llama runner process has terminated',
    });
    expect(fake.requests[0]).toMatchObject({ aborted: false, finished: true });
  });

  it('detects a client abort while the stream hangs', async () => {
    const { fake, ollama } = await setup();
    fake.enqueue({ tokens: ['partial'], hang: true });
    const stream = await ollama.chat({ model: MODEL, messages: USER, stream: true });
    const seen: string[] = [];
    const consumed = (async () => {
      for await (const part of stream) seen.push(part.message.content);
    })();
    await expect.poll(() => seen).toEqual(['partial']);
    expect(fake.requests[0]?.aborted).toBe(false);
    stream.abort();
    await expect(consumed).rejects.toMatchObject({ name: 'AbortError' });
    await fake.waitForAbort(0);
    expect(fake.requests[0]).toMatchObject({ aborted: true, finished: false });
  });

  it('drops the connection mid-stream without counting it as a client abort', async () => {
    const { fake, ollama } = await setup();
    // Without a delay undici errors the body before the consumer reads chunks already received.
    fake.enqueue({ tokens: ['a', 'b', 'c'], dropAfterChunks: 2, delayMs: 30 });
    const seen: string[] = [];
    const stream = await ollama.chat({ model: MODEL, messages: USER, stream: true });
    await expect(
      (async () => {
        for await (const part of stream) seen.push(part.message.content);
      })(),
    ).rejects.toThrow();
    expect(seen).toEqual(['a', 'b']);
    expect(fake.requests[0]).toMatchObject({ aborted: false, finished: false });
  });

  it('honours delays, responders and waitForRequests', async () => {
    const { fake, ollama } = await setup();
    fake.enqueue({ tokens: ['queued'] });
    fake.setResponder((req, index) => ({ tokens: [`#${index}:${req.body.messages?.[0]?.content ?? ''}`], headersDelayMs: 150, delayMs: 50 }));
    const started = Date.now();
    const pending = ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'ping' }] });
    await fake.waitForRequests(1);
    expect((await pending).message.content).toBe('#0:ping');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    fake.setResponder(undefined);
    expect((await ollama.chat({ model: MODEL, messages: USER })).message.content).toBe('queued');
    await expect(fake.waitForRequests(3, 100)).rejects.toThrow(/timed out/);
  });

  it('stamps each streamed token with the wall clock at which it is written, for the benchmark', async () => {
    const { fake, ollama } = await setup();
    fake.enqueue({ tokens: ['a', 'b'], delayMs: 30, stampTokens: true });
    const before = machineMicros();
    const stamps: number[] = [];
    for await (const chunk of await ollama.chat({ model: MODEL, messages: USER, stream: true })) {
      const match = /^([ab])@(\d+)$/.exec(chunk.message.content);
      if (match) stamps.push(Number(match[2]));
    }
    expect(stamps).toHaveLength(2);
    expect(stamps[0]!).toBeGreaterThanOrEqual(before + 25_000); // timers keep ms, not µs: a little slack
    expect(stamps[1]! - stamps[0]!).toBeGreaterThanOrEqual(25_000);
    expect(stamps[1]!).toBeLessThanOrEqual(machineMicros());
  });

  it('stops and restarts on the same port', async () => {
    const { fake, ollama } = await setup();
    const port = fake.port;
    await fake.stop();
    await expect(ollama.chat({ model: MODEL, messages: USER })).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
    await fake.restart();
    expect(fake.port).toBe(port);
    expect((await ollama.chat({ model: MODEL, messages: USER })).message.content).toBe('Hello from fake Ollama');
    await fake.close();
    await fake.close();
    await expect(fake.restart()).rejects.toThrow(/after close/);
  });
});
