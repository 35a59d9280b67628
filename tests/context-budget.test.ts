import { afterEach, describe, expect, it } from 'vitest';
import { askLongQuestions, requestTokens } from './support/context-fit.js';
import { FakeOllama } from './support/fake-ollama.js';
import { runtimesClosedAfterEach } from './support/runtime-harness.js';

const CONTEXT = 4_096;
const REPLY = 1_024;

describe('the context budget holds for a long conversation with large tool results', () => {
  const runtimes = runtimesClosedAfterEach();

  it('every request that reaches the provider fits context_size minus max_tokens, whole turns dropped and one huge result cut', async () => {
    const rt = await runtimes.start({ config: { llm: { context_size: CONTEXT, max_tokens: REPLY } } });
    await rt.mcp!.addTool('fetch_page', 'Fetch a long web page', { resultChars: 9_000 });
    await rt.mcp!.addTool('fetch_book', 'Fetch a whole book', { resultChars: 200_000 });
    await expect.poll(() => rt.runtime.mcp.tools().some((t) => t.name.endsWith('fetch_book'))).toBe(true);
    const pageTool = rt.runtime.mcp.tools().find((t) => t.name.endsWith('fetch_page'))!.name;
    const bookTool = rt.runtime.mcp.tools().find((t) => t.name.endsWith('fetch_book'))!.name;
    // Folding older turns is a non-streamed call: answered here, the scripted chat answers stay in order.
    rt.ollama.setResponder((request) => (request.body.stream === false ? { tokens: ['Alice read pages one to five; nothing is open.'] } : undefined));
    const client = await rt.client('alice@example.com');
    for (let i = 1; i <= 6; i++) {
      rt.ollama.enqueue({ toolCalls: [{ name: pageTool, arguments: { n: i } }] }, { tokens: [`Summary of page ${i}.`] });
      await client.chat(`Read page ${i}`);
    }
    rt.ollama.enqueue({ toolCalls: [{ name: bookTool, arguments: {} }] }, { tokens: ['A long book.'] });
    await client.chat('Read the book');

    const requests = rt.ollama.requests.map((r) => r.body).filter((body) => body.stream !== false);
    const folds = rt.ollama.requests.map((r) => r.body).filter((body) => body.stream === false);
    expect(requests).toHaveLength(14);
    expect(folds.length).toBeGreaterThan(0);
    for (const body of [...requests, ...folds]) expect(requestTokens(body)).toBeLessThanOrEqual(CONTEXT - REPLY);
    // The oldest pages are gone from the last requests; the latest question is always there.
    const last = JSON.stringify(requests.at(-1)!.messages);
    expect(last).toContain('Read the book');
    expect(last).not.toContain('Read page 1');
    // …and folded into the running summary, which goes first.
    expect(last).toContain('Summary of our earlier conversation');
    expect(last).toContain('Alice read pages one to five');
    expect(last).toContain("cut to fit the model's context window: 200000 characters in all");
    expect(requests.at(-1)!.options).toMatchObject({ num_ctx: CONTEXT, num_predict: REPLY });
  });
});

describe('the running summary is stored with the conversation', () => {
  const runtimes = runtimesClosedAfterEach();

  it('survives a restart: the next turn uses it without folding again', async () => {
    const rt = await runtimes.start({ config: { llm: { context_size: CONTEXT, max_tokens: REPLY } } });
    await rt.mcp!.addTool('fetch_page', 'Fetch a long web page', { resultChars: 5_000 });
    await expect.poll(() => rt.runtime.mcp.tools().some((t) => t.name.endsWith('fetch_page'))).toBe(true);
    const pageTool = rt.runtime.mcp.tools().find((t) => t.name.endsWith('fetch_page'))!.name;
    let folds = 0;
    rt.ollama.setResponder((request) => (request.body.stream === false ? (folds++, { tokens: [`Running summary number ${folds}.`] }) : undefined));
    const client = await rt.client('alice@example.com');
    let conversationId = '';
    for (let i = 1; i <= 4; i++) {
      rt.ollama.enqueue({ toolCalls: [{ name: pageTool, arguments: { n: i } }] }, { tokens: [`Page ${i} read.`] });
      const turn = await client.chat(`Read page ${i}`);
      conversationId ||= (turn.find((m) => 'conversation_id' in m && typeof m.conversation_id === 'string') as { conversation_id: string }).conversation_id;
    }
    expect(folds).toBeGreaterThan(0);
    const foldsBefore = folds;
    await client.close();
    await rt.restart();
    const again = await rt.client('alice@example.com');
    rt.ollama.enqueue({ tokens: ['Still here.'] });
    await again.chat('And now?', { conversation_id: conversationId });
    expect(folds).toBe(foldsBefore);
    expect(JSON.stringify(rt.ollama.requests.at(-1)!.body.messages)).toContain(`Running summary number ${foldsBefore}.`);
  });
});

describe('one budget for the whole chain: a fallback with a smaller window is not overfilled', () => {
  const runtimes = runtimesClosedAfterEach(() => ({ mcp: false }));
  const fakes: FakeOllama[] = [];
  afterEach(async () => {
    for (const fake of fakes.splice(0)) await fake.close();
  });

  it('the primary down, the small fallback answers every turn of a long conversation and each request fits its window', async () => {
    const small = await FakeOllama.start({ models: ['qwen2.5:3b'] });
    fakes.push(small);
    const rt = await runtimes.start({
      config: { llm: { context_size: 32_768, max_tokens: 2_048, fallbacks: [{ provider: 'ollama', base_url: small.url, model: 'qwen2.5:3b', context_size: CONTEXT, max_tokens: 512 }] } },
    });
    await rt.ollama.close();
    const client = await rt.client('alice@example.com');
    await askLongQuestions(client, 4);

    expect(rt.ollama.requests).toHaveLength(0);
    const bodies = small.requests.map((r) => r.body);
    expect(bodies.filter((body) => body.stream !== false)).toHaveLength(4);
    // Older turns had to be folded to fit: sized for the primary's 32k, the fourth question would go out with all three before it.
    expect(bodies.some((body) => body.stream === false)).toBe(true);
    for (const body of bodies) {
      expect(requestTokens(body)).toBeLessThanOrEqual(CONTEXT - 512);
      expect(body.options).toMatchObject({ num_ctx: CONTEXT, num_predict: 512 });
    }
  });
});
