import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeAnthropic } from './support/fake-anthropic.js';
import { FakeOllama } from './support/fake-ollama.js';
import { FakeOpenAi } from './support/fake-openai.js';
import { TestRedis } from './support/redis-launcher.js';
import { runtimesClosedAfterEach } from './support/runtime-harness.js';
import { textOf } from './support/ws-client.js';
import { summaryAnswer } from './support/triage-answers.js';

describe('retries and fallbacks before the first token', () => {
  const ollamas: FakeOllama[] = [];
  afterEach(async () => {
    for (const o of ollamas.splice(0)) await o.close();
  });
  const runtimes = runtimesClosedAfterEach(() => ({ mcp: false }));

  async function backup(): Promise<FakeOllama> {
    const o = await FakeOllama.start({ models: ['qwen2.5:7b'] });
    ollamas.push(o);
    return o;
  }

  it('a 503 is tried again on the same provider, and the retry answers (each request keeping the model loaded)', async () => {
    const rt = await runtimes.start({ config: { llm: { retries: 2, keep_alive: '30m' } } });
    rt.ollama.enqueue({ httpError: { status: 503, message: 'overloaded' } }, { tokens: ['Hello', ' again'] });
    const client = await rt.client('alice@example.com');
    const turn = await client.chat('Hi');
    expect(textOf(turn)).toBe('Hello again');
    expect(rt.ollama.requests).toHaveLength(2);
    expect(rt.ollama.requests.map((r) => r.body.keep_alive)).toEqual(['30m', '30m']);
  });

  it('the primary down: the fallback answers the turn, and /health shows both', async () => {
    const other = await backup();
    const rt = await runtimes.start({ config: { llm: { retries: 1, fallbacks: [{ provider: 'ollama', base_url: other.url, model: 'qwen2.5:7b' }] } } });
    await rt.ollama.close();
    other.enqueue({ tokens: ['From', ' the', ' fallback'] });
    const client = await rt.client('alice@example.com');
    const turn = await client.chat('Hi');
    expect(textOf(turn)).toBe('From the fallback');
    expect(turn.at(-1)).toMatchObject({ type: 'done' });
    const health = (await (await fetch(`${rt.httpUrl}/health`)).json()) as { llm: { providers?: Array<{ name: string; status: string; base_url: string }> } };
    expect(health.llm.providers?.map((p) => p.base_url)).toEqual([rt.ollama.url, other.url]);
    // Who answered is in the history (stored) and in the metrics.
    const rows = await rt.runtime.db.selectFrom('messages').select(['role', 'body']).where('role', '=', 'assistant').execute();
    expect(rows.map((r) => JSON.parse(r.body) as { provider?: string }).map((m) => m.provider)).toEqual(['ollama:qwen2.5:7b']);
    const metrics = await (await fetch(`${rt.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/llm_answers_total\{provider="ollama:qwen2\.5:7b"\} 1/);
    expect(metrics).not.toMatch(/llm_answers_total\{provider="ollama:llama3\.1:8b"\}/);
  });

  it('a hosted provider of another kind answers when the local one is down (ollama → openai)', async () => {
    const hosted = await FakeOpenAi.start({ apiKey: 'sk-fallback' });
    try {
      const rt = await runtimes.start({ config: { llm: { retries: 0, fallbacks: [{ provider: 'openai', base_url: `${hosted.url}/v1`, model: 'gpt-test', api_key: 'sk-fallback' }] } } });
      await rt.ollama.close();
      hosted.enqueue({ tokens: ['Hosted', ' answer'] });
      const client = await rt.client('alice@example.com');
      expect(textOf(await client.chat('Hi'))).toBe('Hosted answer');
      expect(hosted.requests).toHaveLength(1);
      const rows = await rt.runtime.db.selectFrom('messages').select('body').where('role', '=', 'assistant').execute();
      expect(rows.map((r) => (JSON.parse(r.body) as { provider?: string }).provider)).toEqual(['openai:gpt-test']);
    } finally {
      await hosted.close();
    }
  });

  it('a 429 with Retry-After from a hosted provider is waited out and tried again, before any token', async () => {
    const hosted = await FakeOpenAi.start();
    try {
      const rt = await runtimes.start({ config: { llm: { provider: 'openai', base_url: `${hosted.url}/v1`, model: 'gpt-test', retries: 2 } } });
      hosted.enqueue({ httpError: { status: 429, message: 'Rate limit reached for gpt-test', retryAfter: '1' } }, { tokens: ['After', ' the', ' wait'] });
      const client = await rt.client('alice@example.com');
      const asked = Date.now();
      const turn = await client.chat('Hi', {}, 15_000);
      expect(textOf(turn)).toBe('After the wait');
      expect(turn.some((m) => m.type === 'error')).toBe(false);
      expect(hosted.requests).toHaveLength(2);
      // Retry-After: 1 is honoured (a lower bound: a loaded machine only makes it later).
      expect(Date.now() - asked).toBeGreaterThanOrEqual(950);
    } finally {
      await hosted.close();
    }
  });

  it('after tokens were shown, a failure is not retried: the turn ends with llm_error and the partial answer kept', async () => {
    const other = await backup();
    const rt = await runtimes.start({ config: { llm: { retries: 2, fallbacks: [{ provider: 'ollama', base_url: other.url, model: 'qwen2.5:7b' }] } } });
    rt.ollama.enqueue({ tokens: ['Partial', ' answer', ' never', ' seen'], delayMs: 20, dropAfterChunks: 2 });
    const client = await rt.client('alice@example.com');
    const turn = await client.chat('Hi');
    expect(turn.find((m) => m.type === 'error')).toMatchObject({ code: 'llm_error' });
    expect(rt.ollama.requests).toHaveLength(1);
    expect(other.requests).toHaveLength(0);
  });
});

describe('an overloaded primary (429, 503, 529) with its retries spent: the fallback answers the turn', () => {
  const fakes: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const fake of fakes.splice(0)) await fake.close();
  });
  const runtimes = runtimesClosedAfterEach(() => ({ mcp: false }));
  const track = <T extends { close(): Promise<void> }>(fake: T): T => {
    fakes.push(fake);
    return fake;
  };
  const providersStored = async (rt: Awaited<ReturnType<typeof runtimes.start>>): Promise<Array<string | undefined>> => {
    const rows = await rt.runtime.db.selectFrom('messages').select('body').where('role', '=', 'assistant').execute();
    return rows.map((r) => (JSON.parse(r.body) as { provider?: string }).provider);
  };

  it('Ollama answers 503 to every try: the OpenAI-compatible fallback answers, and the stored message names it', async () => {
    const hosted = track(await FakeOpenAi.start());
    const rt = await runtimes.start({ config: { llm: { retries: 1, fallbacks: [{ provider: 'openai', base_url: `${hosted.url}/v1`, model: 'gpt-test' }] } } });
    rt.ollama.enqueue({ httpError: { status: 503, message: 'server busy, please try again' } }, { httpError: { status: 503, message: 'server busy, please try again' } });
    hosted.enqueue({ tokens: ['From', ' the', ' fallback'] });
    const client = await rt.client('alice@example.com');
    const turn = await client.chat('Hi', {}, 10_000);
    expect(textOf(turn)).toBe('From the fallback');
    expect(turn.some((m) => m.type === 'error')).toBe(false);
    // The first try and its one retry, then the fallback.
    expect(rt.ollama.requests).toHaveLength(2);
    expect(hosted.requests).toHaveLength(1);
    expect(await providersStored(rt)).toEqual(['openai:gpt-test']);
  });

  it('OpenAI answers 429 with a Retry-After past the wait cap: not waited for, Anthropic answers at once', async () => {
    const hosted = track(await FakeOpenAi.start());
    const claude = track(await FakeAnthropic.start());
    const rt = await runtimes.start({
      config: {
        llm: {
          provider: 'openai',
          base_url: `${hosted.url}/v1`,
          model: 'gpt-test',
          retries: 2,
          fallbacks: [{ provider: 'anthropic', base_url: claude.url, model: 'claude-test', api_key: 'test-key' }],
        },
      },
    });
    hosted.enqueue({ httpError: { status: 429, message: 'Rate limit reached for gpt-test', retryAfter: '120' } });
    claude.enqueue({ text: ['Claude', ' answers'] });
    const client = await rt.client('alice@example.com');
    const asked = Date.now();
    const turn = await client.chat('Hi', {}, 10_000);
    expect(textOf(turn)).toBe('Claude answers');
    // Two minutes are not waited out, nor are the two retries spent on a provider that said when it would be back.
    expect(Date.now() - asked).toBeLessThan(5_000);
    expect(hosted.requests).toHaveLength(1);
    expect(claude.requests).toHaveLength(1);
    expect(await providersStored(rt)).toEqual(['anthropic:claude-test']);
  });

  it('Anthropic overloaded (529) on every try: the local Ollama fallback answers', async () => {
    const claude = track(await FakeAnthropic.start());
    const local = track(await FakeOllama.start({ models: ['qwen2.5:7b'] }));
    const rt = await runtimes.start({
      config: {
        llm: {
          provider: 'anthropic',
          base_url: claude.url,
          model: 'claude-test',
          api_key: 'test-key',
          retries: 1,
          fallbacks: [{ provider: 'ollama', base_url: local.url, model: 'qwen2.5:7b' }],
        },
      },
    });
    const overloaded = { httpError: { status: 529, type: 'overloaded_error', message: 'Overloaded' } };
    claude.enqueue(overloaded, overloaded);
    local.enqueue({ tokens: ['Local', ' answer'] });
    const client = await rt.client('alice@example.com');
    const turn = await client.chat('Hi', {}, 10_000);
    expect(textOf(turn)).toBe('Local answer');
    expect(claude.requests).toHaveLength(2);
    expect(local.requests).toHaveLength(1);
    expect(await providersStored(rt)).toEqual(['ollama:qwen2.5:7b']);
    const metrics = await (await fetch(`${rt.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/llm_answers_total\{provider="ollama:qwen2\.5:7b"\} 1/);
  });
});

describe('[summarization.llm]: summaries on a provider of their own', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis?.close());
  const runtimes = runtimesClosedAfterEach(() => ({ mcp: false, redisUrl: redis.url }));

  it('a summary is made by the summarization provider and model; the chat stays on [llm]', async () => {
    const small = await FakeOllama.start({ models: ['qwen2.5:3b'] });
    try {
      const rt = await runtimes.start({ config: { summarization: { llm: { provider: 'ollama', base_url: small.url, model: 'qwen2.5:3b' } } } });
      await rt.runtime.notificationsReady;
      small.enqueue(summaryAnswer('A short summary.'));
      const response = await fetch(`${rt.httpUrl}/api/generate-summary`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user_email: 'alice@example.com', email_id: 'small-1', from: 'bob@example.com', subject: 'Hi', body: 'Lunch tomorrow?' }),
      });
      expect(await response.json()).toEqual({ summary: 'A short summary.' });
      expect(small.requests.map((r) => r.body.model)).toEqual(['qwen2.5:3b']);
      expect(rt.ollama.requests).toHaveLength(0);
      rt.ollama.enqueue({ tokens: ['Chat answer'] });
      const client = await rt.client('alice@example.com');
      expect(textOf(await client.chat('Hi'))).toBe('Chat answer');
      expect(small.requests).toHaveLength(1);
    } finally {
      await small.close();
    }
  });
});
