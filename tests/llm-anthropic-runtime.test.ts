import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConfigInput } from '../src/config/schema.js';
import { untrustedData } from '../src/llm/untrusted-data.js';
import type { ServerMessage } from '../src/protocol/protocol.js';
import { FakeAnthropic, type FakeAnthropicOptions } from './support/fake-anthropic.js';
import { TestRuntime, type TestRuntimeOptions } from './support/runtime-harness.js';
import { textOf } from './support/ws-client.js';

type Of<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;
const only = <T extends ServerMessage['type']>(messages: readonly ServerMessage[], type: T): Of<T>[] =>
  messages.filter((m): m is Of<T> => m.type === type);

const WORDS = ['Voici', ' vos', ' emails', ' du', ' jour', '.'];

/** A whole turn through the runtime (socket → conversation actor → AnthropicClient → SDK → fake over HTTP). */
describe('[llm] provider = "anthropic": whole turns through the runtime', () => {
  let fake: FakeAnthropic;
  const runtimes: TestRuntime[] = [];
  const start = async (options: TestRuntimeOptions = {}, llm: Partial<NonNullable<ConfigInput['llm']>> = {}): Promise<TestRuntime> => {
    const rt = await TestRuntime.start({
      ...options,
      config: { ...options.config, llm: { provider: 'anthropic', base_url: fake.url, model: 'claude-test', api_key: 'test-key', ...llm } },
    });
    runtimes.push(rt);
    return rt;
  };
  const restartFake = async (options: FakeAnthropicOptions): Promise<void> => {
    await fake.close();
    fake = await FakeAnthropic.start(options);
  };

  beforeEach(async () => {
    fake = await FakeAnthropic.start();
  });
  afterEach(async () => {
    for (const rt of runtimes.splice(0)) await rt.close();
    await fake.close();
  });

  it('streams a plain answer to the socket token by token', async () => {
    const rt = await start({ mcp: false });
    fake.enqueue({ text: WORDS, delayMs: 5 });
    const client = await rt.client('alice@example.com');
    const turn = await client.chat('Liste mes emails');
    expect(only(turn, 'chunk').map((m) => m.text)).toEqual(WORDS);
    expect(turn.at(-1)).toMatchObject({ type: 'done', reason: 'complete', cancelled: false });
    expect(rt.runtime.llm.health()).toMatchObject({ status: 'ok', model: 'claude-test' });
    const system = fake.requests[0]!.body.system;
    expect(Array.isArray(system) && system[0]!.text).toContain('alice@example.com');
  });

  it('runs a tool_use through MCP and streams the follow-up answer', async () => {
    const rt = await start();
    fake.enqueue({ toolUses: [{ name: 'get_weather', input: { city: 'Paris' } }], jsonPieceChars: 2 }, { text: ['Il', ' fait', ' beau'] });
    const client = await rt.client('tom@example.com');
    const turn = await client.chat('Quel temps à Paris ?');

    const [call] = only(turn, 'tool_call');
    expect(call).toMatchObject({ tool: 'get_weather', args: { city: 'Paris' } });
    expect(only(turn, 'tool_result')[0]).toMatchObject({ call_id: call!.call_id, result: 'Sunny, 21°C in Paris', is_error: false });
    expect(textOf(turn)).toBe('Il fait beau');
    expect(rt.mcp!.calls).toEqual([{ name: 'get_weather', arguments: { city: 'Paris' }, aborted: false }]);

    const [first, second] = fake.requests;
    expect(first!.body.tools!.map((t) => t.name)).toEqual(expect.arrayContaining(['add', 'get_weather', 'delete_note', 'send_message']));
    expect(second!.body.messages.slice(-2)).toEqual([
      { role: 'assistant', content: [{ type: 'tool_use', id: call!.call_id, name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call!.call_id, content: untrustedData('tool:get_weather', 'Sunny, 21°C in Paris'), is_error: false }] },
    ]);
  });

  it('cancel mid-answer aborts the HTTP stream to Anthropic', async () => {
    const rt = await start({ mcp: false });
    fake.enqueue({ text: ['Un', ' long', ' texte'], hang: true }, { text: ['Après'] });
    const client = await rt.client('carol@example.com');
    client.send({ type: 'chat', message: 'Raconte' });
    await client.next('chunk', (m) => m.text === ' texte');
    expect(fake.openStreams).toBe(1);
    client.send({ type: 'cancel' });
    await fake.waitForAbort(0);
    expect(await client.next('done')).toMatchObject({ reason: 'cancelled', cancelled: true });
    await fake.waitFor(() => fake.openStreams === 0, 'the stream to close');

    // The conversation goes on, and the model sees what the user saw of the cut answer.
    expect(textOf(await client.chat('Autre chose'))).toBe('Après');
    expect(fake.requests[1]!.body.messages.slice(0, 2)).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Raconte' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Un long texte' }] },
    ]);
  });

  it('a destructive tool waits for approval, then runs, and the answer streams', async () => {
    const rt = await start();
    fake.enqueue({ toolUses: [{ name: 'delete_note', input: { id: 'n7' } }] }, { text: ['Note', ' supprimée'] });
    const client = await rt.client('ida@example.com');
    client.send({ type: 'chat', message: 'Supprime la note n7' });
    const request = await client.next('approval_required');
    expect(request).toMatchObject({ tool: 'delete_note', args: { id: 'n7' } });
    expect(rt.mcp!.calls).toHaveLength(0);
    expect(fake.requests).toHaveLength(1);

    client.send({ type: 'approve', call_id: request.call_id });
    const turn = await client.until('done');
    expect(rt.mcp!.calls).toEqual([{ name: 'delete_note', arguments: { id: 'n7' }, aborted: false }]);
    expect(textOf(turn)).toBe('Note supprimée');
    expect(fake.requests[1]!.body.messages.at(-1)!.content).toEqual([expect.objectContaining({ type: 'tool_result', tool_use_id: request.call_id, is_error: false })]);
  });

  it('an overload before the first token (529, then overloaded_error mid-stream) is retried by the fallback layer above', async () => {
    // The harness turns retries off for everyone else; this test is about them.
    const rt = await start({ mcp: false }, { retries: 2 });
    fake.enqueue(
      { httpError: { status: 529, type: 'overloaded_error', message: 'Overloaded', retryAfter: '0' } },
      { text: ['jamais vu'], streamError: { afterEvents: 1, type: 'overloaded_error', message: 'Overloaded' } },
      { text: ['Enfin', ' là'] },
    );
    const client = await rt.client('olga@example.com');
    const turn = await client.chat('Tu es là ?', {}, 15_000);
    expect(textOf(turn)).toBe('Enfin là');
    expect(only(turn, 'error')).toEqual([]);
    expect(fake.requests).toHaveLength(3);
  });

  it('the cached system+tools prefix makes the second turn\'s first token come sooner', async (context) => {
    /** Simulated prefill: ms per 1000 uncached prompt tokens (order of a large hosted model's prefill). */
    const PREFILL_MS_PER_1K = 400;
    const secondTurnFirstToken = async (honourCacheControl: boolean) => {
      // Caching only pays above the model's minimum (1024 tokens): long tool descriptions, as real mail tools have.
      await restartFake({ prefillMsPer1kTokens: PREFILL_MS_PER_1K, honourCacheControl });
      const rt = await start();
      for (let i = 0; i < 12; i++) await rt.mcp!.addTool(`mail_tool_${i}`, `A mailbox operation, number ${i}. ${'It takes care of the details a user should not have to think about. '.repeat(6)}`);
      await vi.waitFor(() => expect(rt.runtime.mcp.tools().map((t) => t.name)).toContain('mail_tool_11'));
      const client = await rt.client(`ttft-${honourCacheControl}@example.com`);
      fake.enqueue({ text: ['Bonjour'] }, { text: ['Encore', ' moi'] });
      await client.chat('Bonjour', {}, 15_000);
      const sentAt = performance.now();
      client.send({ type: 'chat', message: 'Et maintenant ?' });
      await client.next('chunk', () => true, 15_000);
      const ms = performance.now() - sentAt;
      await client.until('done', 15_000);
      await rt.close();
      runtimes.splice(runtimes.indexOf(rt), 1);
      return { ms, usage: fake.requests[1]!.usage! };
    };

    const without = await secondTurnFirstToken(false);
    const withCache = await secondTurnFirstToken(true);
    const prompt = (u: typeof without.usage) => u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
    context.annotate(
      `TTFT, 2nd turn, prefill ${PREFILL_MS_PER_1K} ms/1k tokens, prompt ${prompt(withCache.usage)} tokens: ` +
        `without cache_control ${without.ms.toFixed(0)} ms; with ${withCache.ms.toFixed(0)} ms (${withCache.usage.cache_read_input_tokens} tokens read from the cache)`,
    );
    expect(without.usage.cache_read_input_tokens).toBe(0);
    expect(withCache.usage.cache_read_input_tokens).toBeGreaterThan(1024);
    expect(withCache.ms).toBeLessThan(without.ms / 2);
  });
});
