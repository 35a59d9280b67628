import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LlmProviderConfigSchema } from '../src/config/schema.js';
import { OllamaClient } from '../src/llm/ollama-client.js';
import { PromptBudget } from '../src/llm/prompt-budget.js';
import { askLongQuestions, requestTokens } from './support/context-fit.js';
import { FakeOllama } from './support/fake-ollama.js';
import { FakeOpenAi } from './support/fake-openai.js';
import { captureLogs } from './support/log-capture.js';
import { runtimesClosedAfterEach } from './support/runtime-harness.js';

/** What the model was trained with (or served with), smaller than the configured context_size. */
const MODEL_WINDOW = 4_096;
const CONFIGURED = 32_768;
const REPLY = 512;

const closeAfterEach: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  // Last opened, first closed: a server that holds a request open goes before the client waiting on it.
  for (const thing of closeAfterEach.splice(0).reverse()) await thing.close();
});

function ollamaEntry(baseUrl: string, contextSize = CONFIGURED) {
  return LlmProviderConfigSchema.parse({ provider: 'ollama', base_url: baseUrl, model: 'llama3.1:8b', context_size: contextSize, max_tokens: REPLY });
}

describe("the model's own context length bounds every request", () => {
  const runtimes = runtimesClosedAfterEach(() => ({ mcp: false }));

  it('Ollama reports a window smaller than context_size (/api/show): every request fits it, and num_ctx asks for no more', async () => {
    const ollama = await FakeOllama.start({ contextLength: MODEL_WINDOW });
    closeAfterEach.push(ollama);
    const logs = captureLogs('info');
    const rt = await runtimes.start({ ollama, logger: logs.logger, config: { llm: { context_size: CONFIGURED, max_tokens: REPLY } } });
    const client = await rt.client('alice@example.com');
    await askLongQuestions(client, 4);

    const bodies = ollama.requests.map((r) => r.body);
    expect(bodies.filter((body) => body.stream !== false)).toHaveLength(4);
    // Older turns were folded to fit; fitted to context_size, the fourth question would go out with all three before it.
    expect(bodies.some((body) => body.stream === false)).toBe(true);
    for (const body of bodies) {
      expect(requestTokens(body)).toBeLessThanOrEqual(MODEL_WINDOW - REPLY);
      expect(body.options).toMatchObject({ num_ctx: MODEL_WINDOW, num_predict: REPLY });
    }
    expect(logs.lines.find((l) => l.msg.startsWith("The model's context length is smaller"))).toMatchObject({ provider: 'ollama:llama3.1:8b', contextLength: MODEL_WINDOW, contextSize: CONFIGURED });
    // Read once, while starting: not once per turn or per request.
    expect(ollama.showRequests).toBe(1);
  });

  it('an OpenAI-compatible server reporting max_model_len (vLLM): every request fits it', async () => {
    const vllm = await FakeOpenAi.start({ maxModelLen: MODEL_WINDOW });
    closeAfterEach.push(vllm);
    const rt = await runtimes.start({ config: { llm: { provider: 'openai', base_url: `${vllm.url}/v1`, model: 'gpt-test', context_size: CONFIGURED, max_tokens: REPLY } } });
    const client = await rt.client('alice@example.com');
    await askLongQuestions(client, 4);

    const bodies = vllm.requests.map((r) => r.body);
    expect(bodies.filter((body) => body.stream === true)).toHaveLength(4);
    expect(bodies.some((body) => body.stream !== true)).toBe(true);
    for (const body of bodies) {
      expect(requestTokens(body)).toBeLessThanOrEqual(MODEL_WINDOW - REPLY);
      expect(body.max_tokens).toBe(REPLY);
    }
  });

  it('a window larger than context_size changes nothing: context_size stays the bound', async () => {
    const ollama = await FakeOllama.start({ contextLength: 131_072 });
    closeAfterEach.push(ollama);
    const rt = await runtimes.start({ ollama, config: { llm: { context_size: MODEL_WINDOW, max_tokens: REPLY } } });
    const client = await rt.client('alice@example.com');
    await askLongQuestions(client, 3);
    for (const { body } of ollama.requests) {
      expect(requestTokens(body)).toBeLessThanOrEqual(MODEL_WINDOW - REPLY);
      expect(body.options).toMatchObject({ num_ctx: MODEL_WINDOW });
    }
  });
});

describe('reading the context length: bounded, and context_size when it cannot be read', () => {
  it('the server down: context_size, with a log line; read again once it is back', async () => {
    const ollama = await FakeOllama.start({ contextLength: MODEL_WINDOW });
    closeAfterEach.push(ollama);
    await ollama.stop();
    const client = new OllamaClient(ollamaEntry(ollama.url));
    closeAfterEach.push(client);
    const logs = captureLogs();
    const budget = new PromptBudget([{ name: 'ollama:llama3.1:8b', client, contextSize: CONFIGURED, maxTokens: REPLY }], { logger: logs.logger, retryAfterFailureMs: 0 });
    expect(await budget.tokens()).toBe(CONFIGURED - REPLY);
    expect(logs.lines.find((l) => l.msg.startsWith("Could not read the model's context length"))).toMatchObject({ provider: 'ollama:llama3.1:8b', contextSize: CONFIGURED, err: expect.stringContaining('not reachable') });

    await ollama.restart();
    // Read again in the background: a turn never waits for it, the next ones get it.
    await expect.poll(() => budget.tokens()).toBe(MODEL_WINDOW - REPLY);
  });

  it('a server that never answers is given up on within the bound: context_size, with a log line', async () => {
    const silent = await silentServer();
    closeAfterEach.push(silent);
    const client = new OllamaClient(ollamaEntry(silent.url));
    closeAfterEach.push(client);
    const logs = captureLogs();
    const budget = new PromptBudget([{ name: 'ollama:llama3.1:8b', client, contextSize: CONFIGURED, maxTokens: REPLY }], { logger: logs.logger, readTimeoutMs: 200 });
    const started = performance.now();
    expect(await budget.tokens()).toBe(CONFIGURED - REPLY);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(silent.requests).toBe(1);
    expect(logs.messages()).toContain("Could not read the model's context length; requests are fitted to context_size");
  });

  it('a read again after a failure does not hold the turn: the configured window at once, the read in the background', async () => {
    // Down at the first read (refused at once), then up but never answering: a turn that waited for the second read
    // would wait its whole minute and time the test out.
    const down = await FakeOllama.start();
    const port = down.port;
    await down.close();
    const client = new OllamaClient(ollamaEntry(`http://127.0.0.1:${port}`));
    closeAfterEach.push(client);
    const budget = new PromptBudget([{ name: 'ollama:llama3.1:8b', client, contextSize: CONFIGURED, maxTokens: REPLY }], { logger: captureLogs().logger, readTimeoutMs: 60_000, retryAfterFailureMs: 0 });
    expect(await budget.tokens()).toBe(CONFIGURED - REPLY);
    const silent = await silentServer(port);
    closeAfterEach.push(silent);
    expect(await budget.tokens()).toBe(CONFIGURED - REPLY);
    await expect.poll(() => silent.requests).toBe(1);
  });
});

/** An HTTP server that takes requests and never answers them: a provider hung before its headers. */
async function silentServer(port = 0): Promise<{ url: string; requests: number; close(): Promise<void> }> {
  const server: Server = createServer();
  const sockets = new Set<Socket>();
  const close = (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A request left hanging would otherwise hold server.close() open for ever.
    for (const socket of sockets) socket.destroy();
    return closed;
  };
  const state = { url: '', requests: 0, close };
  server.on('connection', (socket: Socket) => sockets.add(socket));
  server.on('request', () => {
    state.requests += 1;
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
