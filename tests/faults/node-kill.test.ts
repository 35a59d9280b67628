import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConversationStore } from '../../src/storage/conversation-store.js';
import { FakeOllama } from '../support/fake-ollama.js';
import { MainProcesses } from '../support/main-process.js';
import { TEST_DATABASE_URL, TestSchema } from '../support/postgres.js';
import { TestRedis } from '../support/redis-launcher.js';
import { TestRuntime } from '../support/runtime-harness.js';
import { TestClient, textOf } from '../support/ws-client.js';

const NOA = 'noa@example.com';
/** Short, so the test does not wait 15 s: a dead node's lease lapses after this, and is checked every third of it. */
const LEASE_TTL_S = 3;
/** The lapse, two checks, and room for a loaded machine. */
const LEASE_LAPSE_MS = 20_000;

describe.skipIf(!TEST_DATABASE_URL)('kill -9 of the node answering (Postgres and Redis shared by two nodes)', () => {
  let redis: TestRedis;
  let dir: string;
  let schema: TestSchema | undefined;
  let ollama: FakeOllama | undefined;
  let nodeB: TestRuntime | undefined;
  const mains = new MainProcesses();

  beforeAll(async () => {
    redis = await TestRedis.start();
    dir = mkdtempSync(join(tmpdir(), 'ai-runtime-node-kill-'));
  });
  afterAll(async () => {
    await redis.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    mains.killAll();
    await nodeB?.close();
    await ollama?.close();
    await schema?.drop();
  });

  it('saved turns stay; the client watching on another node is told the answer was cut, and that node answers the next turn', { timeout: 45_000 }, async () => {
    schema = await TestSchema.create();
    ollama = await FakeOllama.start();
    const prefix = `k${Date.now()}`;
    const config = join(dir, 'node-a.toml');
    writeFileSync(
      config,
      ['[llm]', `base_url = "${ollama.url}"`, '[mcp]', 'mail_server_url = ""', '[mail]', 'embedded = false', '[summarization]', 'enabled = false', '[redis]', `prefix = "${prefix}"`, '[conversation]', `lease_ttl_s = ${LEASE_TTL_S}`].join('\n'),
    );
    const nodeA = await mains.start(['--config', config], { DATABASE_URL: schema.url, REDIS_URL: redis.url, LISTEN_ADDR: '127.0.0.1:0' }, ['AI_RUNTIME_CONFIG', 'JWT_SECRET']);
    expect(nodeA.port, nodeA.output).toBeDefined();
    nodeB = await TestRuntime.start({ ollama, redisUrl: redis.url, config: { storage: { database_url: schema.url }, redis: { prefix }, conversation: { lease_ttl_s: LEASE_TTL_S } } });

    const onA = await TestClient.connect(`ws://127.0.0.1:${nodeA.port}/ws`);
    await onA.auth(NOA);
    ollama.enqueue({ tokens: ['Premier', ' tour'] }, { tokens: Array.from({ length: 100 }, (_, i) => `m${i} `), delayMs: 50 }, { tokens: ['Repris', ' sur', ' B'] });
    const first = await onA.chat('Bonjour');
    expect(textOf(first)).toBe('Premier tour');
    const conversationId = first.find((m) => m.type === 'history')!.conversation_id;
    onA.send({ type: 'chat', message: 'Raconte longtemps', conversation_id: conversationId });
    await onA.next('chunk');
    mains.killAll();

    const onB = await nodeB.client(NOA);
    // Reconnected to B, the client follows the answer A was giving when it died.
    onB.send({ type: 'resume', conversation_id: conversationId });
    expect((await onB.next('history')).state).toBe('streaming');
    // While the dead node's lease holds, a new turn is refused.
    onB.send({ type: 'chat', message: 'Tu es là ?', conversation_id: conversationId });
    expect((await onB.next('error')).code).toBe('busy');
    // Once it lapses, B tells the watching client the answer was cut, and ends that turn.
    expect((await onB.next('error', (m) => m.code !== 'busy', LEASE_LAPSE_MS)).code).toBe('interrupted');
    expect(await onB.next('done', () => true, LEASE_LAPSE_MS)).toMatchObject({ reason: 'error' });
    const answer = textOf(await onB.chat('Tu es là ?', { conversation_id: conversationId }, 10_000));
    expect(answer).toBe('Repris sur B');

    const stored = await new ConversationStore(nodeB.runtime.db).find(conversationId);
    const texts = stored!.messages.map((m) => `${m.role}:${m.role === 'tool' ? m.result.text : m.content}`);
    expect(texts.slice(0, 3)).toEqual(['user:Bonjour', 'assistant:Premier tour', 'user:Raconte longtemps']);
    expect(texts.at(-1)).toBe('assistant:Repris sur B');
    // The cut answer was never asked for again: three LLM calls in all.
    expect(ollama.requests).toHaveLength(3);
  });
});
