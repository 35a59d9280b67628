import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LlmConfigSchema, LlmProviderConfigSchema } from '../src/config/schema.js';
import { createLlmChain, createLlmClient } from '../src/llm/create-llm-client.js';
import type { JsonOutputFormat, LlmClient } from '../src/llm/llm-client.js';
import { createLogger } from '../src/logger.js';
import { FakeAnthropic } from './support/fake-anthropic.js';
import { FakeOllama } from './support/fake-ollama.js';
import { FakeOpenAi } from './support/fake-openai.js';

/**
 * `complete({ format })` through each provider's official client against its fake: the schema goes in the provider's
 * own field, the answer comes back as JSON text, and a cut answer comes back as text too, for the caller to refuse.
 */

const AnswerSchema = z.object({
  category: z.enum(['work', 'newsletter', 'spam']),
  needs_reply: z.boolean().nullable(),
  // A length limit: Anthropic cannot enforce it (the SDK moves it to the description), OpenAI strict mode can.
  reason: z.string().max(200),
});
const TRIAGE: JsonOutputFormat = { name: 'triage', schema: z.toJSONSchema(AnswerSchema) };
const ANSWER = { category: 'work', needs_reply: true, reason: 'A colleague asks for the Q3 numbers by Friday.' };
const ASK = { system: 'Triage this email.', prompt: 'From: bob@example.com\nSubject: Q3 numbers' };
/** Cut inside the `reason` string: valid up to there, not JSON as a whole. */
const CUT_AT = 40;

const clients: LlmClient[] = [];
const servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  for (const server of servers.splice(0)) await server.close();
});

function clientFor(entry: Record<string, unknown>): LlmClient {
  const client = createLlmClient(LlmProviderConfigSchema.parse(entry), {});
  clients.push(client);
  return client;
}

async function start<T extends { close(): Promise<void> }>(server: Promise<T>): Promise<T> {
  const started = await server;
  servers.push(started);
  return started;
}

/** What a caller does with the text: parse and validate, and fall back when either fails. */
const validated = (text: string) => {
  try {
    return AnswerSchema.safeParse(JSON.parse(text)).success;
  } catch {
    return false;
  }
};

describe('structured output through Ollama (format)', () => {
  it('sends the JSON Schema itself as format on /api/chat, and answers the JSON text', async () => {
    const fake = await start(FakeOllama.start());
    fake.enqueue({ json: ANSWER });
    const text = await clientFor({ provider: 'ollama', base_url: fake.url, model: 'llama3.1:8b' }).complete({ ...ASK, format: TRIAGE });
    expect(JSON.parse(text)).toEqual(ANSWER);
    expect(validated(text)).toBe(true);
    expect(fake.requests[0]?.body).toMatchObject({ stream: false, format: TRIAGE.schema });
  });

  it('sends no format without one, and hands back an answer cut by num_predict as the text it is', async () => {
    const fake = await start(FakeOllama.start());
    fake.enqueue({ tokens: ['Plain', ' text'] }, { json: ANSWER, truncateJsonAt: CUT_AT });
    const llm = clientFor({ provider: 'ollama', base_url: fake.url, model: 'llama3.1:8b' });
    expect(await llm.complete(ASK)).toBe('Plain text');
    expect(fake.requests[0]?.body).not.toHaveProperty('format');

    const cut = await llm.complete({ ...ASK, format: TRIAGE });
    expect(cut).toBe(JSON.stringify(ANSWER).slice(0, CUT_AT));
    expect(validated(cut)).toBe(false);
  });
});

describe('structured output through OpenAI (response_format json_schema)', () => {
  const KEY = 'sk-test-structured';
  const openai = async () => {
    const fake = await start(FakeOpenAi.start({ apiKey: KEY }));
    return { fake, llm: clientFor({ provider: 'openai', base_url: `${fake.url}/v1`, model: 'gpt-test', api_key: KEY }) };
  };

  it('sends a strict json_schema response format, and answers the JSON text', async () => {
    const { fake, llm } = await openai();
    fake.enqueue({ json: ANSWER });
    const text = await llm.complete({ ...ASK, format: TRIAGE });
    expect(JSON.parse(text)).toEqual(ANSWER);
    expect(fake.requests[0]?.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'triage', schema: TRIAGE.schema, strict: true } });
  });

  it('closes open objects and requires nullable fields for strict mode, which the fake (like OpenAI) insists on', async () => {
    const { fake, llm } = await openai();
    const open = {
      type: 'object',
      properties: { category: { type: 'string' }, sender: { type: 'object', properties: { name: { type: ['string', 'null'] } } } },
      required: ['category', 'sender'],
    };
    fake.enqueue({ json: { category: 'work', sender: { name: null } } });
    await llm.complete({ ...ASK, format: { name: 'open', schema: open } });
    const sent = fake.requests[0]?.body.response_format;
    expect(sent).toMatchObject({ type: 'json_schema', json_schema: { name: 'open', strict: true } });
    expect(sent).toHaveProperty('json_schema.schema', {
      type: 'object',
      properties: { category: { type: 'string' }, sender: { type: 'object', properties: { name: { type: ['string', 'null'] } }, required: ['name'], additionalProperties: false } },
      required: ['category', 'sender'],
      additionalProperties: false,
    });
    expect(open).not.toHaveProperty('additionalProperties');
  });

  it('sends a schema strict mode cannot represent as given, with strict false', async () => {
    const { fake, llm } = await openai();
    const optional = z.toJSONSchema(z.object({ category: z.string(), note: z.string().optional() }));
    fake.enqueue({ json: { category: 'work' } });
    expect(JSON.parse(await llm.complete({ ...ASK, format: { name: 'loose', schema: optional } }))).toEqual({ category: 'work' });
    expect(fake.requests[0]?.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'loose', schema: optional, strict: false } });
  });

  it('sends no response_format without one, and hands back an answer cut by max_tokens as text', async () => {
    const { fake, llm } = await openai();
    fake.enqueue({ tokens: ['Plain'] }, { json: ANSWER, truncateJsonAt: CUT_AT });
    expect(await llm.complete(ASK)).toBe('Plain');
    expect(fake.requests[0]?.body).not.toHaveProperty('response_format');
    const cut = await llm.complete({ ...ASK, format: TRIAGE });
    expect(cut).toBe(JSON.stringify(ANSWER).slice(0, CUT_AT));
    expect(validated(cut)).toBe(false);
  });
});

describe('structured output through Anthropic (output_config.format)', () => {
  const anthropic = async () => {
    const fake = await start(FakeAnthropic.start());
    return { fake, llm: clientFor({ provider: 'anthropic', base_url: fake.url, model: 'claude-test', api_key: 'test-key' }) };
  };

  it('sends a json_schema output format the API accepts (unsupported limits moved to descriptions), and answers the JSON text', async () => {
    const { fake, llm } = await anthropic();
    fake.enqueue({ json: ANSWER });
    const text = await llm.complete({ ...ASK, format: TRIAGE });
    expect(JSON.parse(text)).toEqual(ANSWER);
    const body = fake.requests[0]?.body;
    expect(body).not.toHaveProperty('tools');
    expect(body?.output_config?.format).toEqual({
      type: 'json_schema',
      schema: {
        type: 'object',
        properties: {
          category: { enum: ['work', 'newsletter', 'spam'] },
          needs_reply: { type: ['boolean', 'null'] },
          reason: { type: 'string', description: '{maxLength: 200}' },
        },
        required: ['category', 'needs_reply', 'reason'],
        additionalProperties: false,
      },
    });
  });

  it('sends no output_config without a format, and hands back an answer cut at max_tokens as text', async () => {
    const { fake, llm } = await anthropic();
    fake.enqueue({ text: ['Plain'] }, { json: ANSWER, truncateJsonAt: CUT_AT });
    expect(await llm.complete(ASK)).toBe('Plain');
    expect(fake.requests[0]?.body).not.toHaveProperty('output_config');
    const cut = await llm.complete({ ...ASK, format: TRIAGE });
    expect(cut).toBe(JSON.stringify(ANSWER).slice(0, CUT_AT));
    expect(validated(cut)).toBe(false);
  });

  it('refuses, like the API, a schema with an open object or a length limit', async () => {
    const { fake } = await anthropic();
    const post = (schema: Record<string, unknown>) =>
      fetch(`${fake.url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': 'test-key', 'anthropic-version': '2026-10-21', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }], output_config: { format: { type: 'json_schema', schema } } }),
      });
    expect((await post({ type: 'object', properties: {} })).status).toBe(400);
    expect((await post(TRIAGE.schema)).status).toBe(400);
  });
});

describe('structured output through the fallback chain', () => {
  it('passes format on to the provider that answers', async () => {
    const primary = await start(FakeOpenAi.start());
    const backup = await start(FakeOllama.start());
    primary.enqueue({ httpError: { status: 503, message: 'overloaded' } });
    backup.enqueue({ json: ANSWER });
    const config = LlmConfigSchema.parse({
      provider: 'openai',
      base_url: `${primary.url}/v1`,
      model: 'gpt-test',
      retries: 0,
      fallbacks: [{ provider: 'ollama', base_url: backup.url, model: 'llama3.1:8b' }],
    });
    const chain = createLlmChain(config, createLogger('silent'), {});
    clients.push(chain);
    expect(JSON.parse(await chain.complete({ ...ASK, format: TRIAGE }))).toEqual(ANSWER);
    expect(primary.requests[0]?.body.response_format).toMatchObject({ json_schema: { name: 'triage' } });
    expect(backup.requests[0]?.body.format).toEqual(TRIAGE.schema);
  });
});
