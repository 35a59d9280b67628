import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { SUMMARY_QUEUE_NAME } from '../src/queue/summary-job.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, TestRuntime } from './support/runtime-harness.js';
import { TestClient, textOf } from './support/ws-client.js';

const GOING_AWAY = 1001;
const WORDS = ['Voici', ' vos', ' emails', ' du', ' jour', '.'];
/** Room for a loaded CI machine on top of the timings a test sets; far below the graces that must not be waited out. */
const SLACK_MS = 1_000;

async function historyAfterRestart(rt: TestRuntime, email: string, conversationId: string) {
  await rt.restart();
  const client = await rt.client(email);
  client.send({ type: 'resume', conversation_id: conversationId });
  return { client, history: await client.next('history') };
}

describe('graceful shutdown', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(options: Parameters<typeof TestRuntime.start>[0] = {}): Promise<TestRuntime> {
    const rt = await TestRuntime.start({ mcp: false, ...options });
    cleanups.push(() => rt.close());
    return rt;
  }

  it('an answer shorter than the grace period streams to the end; done reaches the client before the 1001 close; it is stored whole', async () => {
    const rt = await start();
    rt.ollama.enqueue({ tokens: WORDS, delayMs: 60 });
    const client = await rt.client('alice@example.com');
    client.send({ type: 'chat', message: 'Liste mes emails' });
    const id = (await client.next('history')).conversation_id;
    await client.next('chunk');

    const startedAt = Date.now();
    const closed = rt.runtime.close({ graceMs: 5_000 });
    const { code } = await client.closed;
    await closed;

    expect(code).toBe(GOING_AWAY);
    // Messages arrive in order before the close frame: the whole answer and its done came first.
    expect(textOf(client.messages)).toBe(WORDS.join(''));
    expect(client.messages.at(-1)).toMatchObject({ type: 'done', reason: 'complete', cancelled: false });
    // It waited for the answer, not for the whole grace period.
    expect(Date.now() - startedAt).toBeLessThan(WORDS.length * 60 + SLACK_MS);
    expect(rt.ollama.requests[0]!.aborted).toBe(false);

    const { history } = await historyAfterRestart(rt, 'alice@example.com', id);
    expect(history.messages).toEqual([
      { role: 'user', content: 'Liste mes emails' },
      { role: 'assistant', content: WORDS.join('') },
    ]);
  });

  it('an answer longer than the grace period is cut at its end: saved as interrupted, done sent, then 1001', async () => {
    const rt = await start();
    const tokens = Array.from({ length: 40 }, (_, i) => `mot${i} `);
    rt.ollama.enqueue({ tokens, delayMs: 100 });
    const client = await rt.client('bob@example.com');
    client.send({ type: 'chat', message: 'Raconte une longue histoire' });
    const id = (await client.next('history')).conversation_id;
    await client.next('chunk', (m) => m.text === 'mot1 ');

    const graceMs = 300;
    const startedAt = Date.now();
    const closed = rt.runtime.close({ graceMs });
    const { code } = await client.closed;
    const elapsed = Date.now() - startedAt;
    await closed;

    expect(code).toBe(GOING_AWAY);
    expect(elapsed).toBeGreaterThanOrEqual(graceMs - 20);
    expect(elapsed).toBeLessThan(graceMs + SLACK_MS);
    expect(client.messages.at(-1)).toMatchObject({ type: 'done', reason: 'cancelled', cancelled: true });
    expect(rt.ollama.requests[0]!.aborted).toBe(true);
    const seen = textOf(client.messages);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen).not.toBe(tokens.join(''));

    const { history } = await historyAfterRestart(rt, 'bob@example.com', id);
    expect(history.state).toBe('idle');
    expect(history.messages).toEqual([
      { role: 'user', content: 'Raconte une longue histoire' },
      { role: 'assistant', content: seen, interrupted: true },
    ]);
  });

  it('stops listening at once: a new connection fails during the grace period while an open socket keeps streaming', async () => {
    const rt = await start();
    rt.ollama.enqueue({ tokens: WORDS, delayMs: 80 });
    const client = await rt.client('carol@example.com');
    client.send({ type: 'chat', message: 'Liste' });
    await client.next('chunk');

    const closed = rt.runtime.close({ graceMs: 5_000 });
    await expect(TestClient.connect(rt.wsUrl)).rejects.toThrow(/ECONNREFUSED/);
    await expect(fetch(`${rt.httpUrl}/health`)).rejects.toThrow();
    const chunksWhenRefused = client.messages.filter((m) => m.type === 'chunk').length;
    expect(chunksWhenRefused).toBeLessThan(WORDS.length);

    await client.next('done');
    expect(client.messages.filter((m) => m.type === 'chunk').length).toBe(WORDS.length);
    expect((await client.closed).code).toBe(GOING_AWAY);
    await closed;
  });

  it('while draining, a chat on an open socket is refused with a clear error and starts nothing', async () => {
    const rt = await start();
    rt.ollama.enqueue({ tokens: WORDS, delayMs: 80 });
    const busy = await rt.client('dave@example.com');
    const idle = await rt.client('erin@example.com');
    idle.send({ type: 'new_conversation' });
    const idleConversation = (await idle.next('history')).conversation_id;
    busy.send({ type: 'chat', message: 'Liste' });
    await busy.next('chunk');

    const closed = rt.runtime.close({ graceMs: 5_000 });
    idle.send({ type: 'chat', message: 'Une nouvelle question', conversation_id: idleConversation });
    const refusedTurn = await idle.next('error');
    idle.send({ type: 'chat', message: 'Et une nouvelle conversation' });
    const refusedConversation = await idle.next('error');
    for (const refused of [refusedTurn, refusedConversation]) {
      expect(refused.code).toBe(ErrorCode.Busy);
      expect(refused.message).toMatch(/restarting.*resend/i);
    }

    await busy.next('done');
    await closed;
    expect(rt.ollama.requests).toHaveLength(1);
    expect(idle.messages.some((m) => m.type === 'state')).toBe(false);
  });

  it('a conversation waiting for approval does not hold shutdown, and resumes after a restart still waiting', async () => {
    const rt = await start({ mcp: true });
    rt.ollama.enqueue({ toolCalls: [{ name: 'delete_note', arguments: { id: 'n-42' } }] }, { tokens: ['Toujours', ' là'] });
    const client = await rt.client('frank@example.com');
    client.send({ type: 'chat', message: 'Supprime la note n-42' });
    const id = (await client.next('history')).conversation_id;
    const request = await client.next('approval_required');

    const startedAt = Date.now();
    await rt.runtime.close({ graceMs: 10_000 });
    expect(Date.now() - startedAt).toBeLessThan(3 * SLACK_MS);
    expect((await client.closed).code).toBe(GOING_AWAY);
    expect(rt.mcp!.calls).toHaveLength(0);

    const { client: after, history } = await historyAfterRestart(rt, 'frank@example.com', id);
    // The call never ran: it comes back pending, not "interrupted".
    expect(history.state).toBe('awaiting_approval');
    expect(history.messages).toEqual([
      { role: 'user', content: 'Supprime la note n-42' },
      { role: 'assistant', content: '', tool_calls: [{ call_id: request.call_id, tool: 'delete_note', args: { id: 'n-42' } }] },
    ]);
    expect(history.pending_approval).toEqual({ call_id: request.call_id, tool: 'delete_note', args: { id: 'n-42' } });
    after.send({ type: 'approve', call_id: request.call_id });
    const turn = await after.until('done');
    expect(rt.mcp!.calls).toEqual([{ name: 'delete_note', arguments: { id: 'n-42' }, aborted: false }]);
    expect(textOf(turn)).toBe('Toujours là');
  });

  describe('with summaries on a private Redis', () => {
    it('a summary job active at shutdown is not lost: it finishes or goes back to the queue, and the next runtime has it done', async () => {
      const redis = await TestRedis.start();
      cleanups.push(() => redis.close());
      const prefix = `t${randomUUID().slice(0, 8)}`;
      const rt = await start({ redisUrl: redis.url, config: { redis: { prefix } } });
      await rt.runtime.notificationsReady;
      const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      const queue = new Queue(SUMMARY_QUEUE_NAME, { connection, prefix });
      cleanups.push(async () => {
        await queue.close();
        connection.disconnect();
      });

      rt.ollama.setResponder(() => ({ tokens: ['Réunion demain à 15h.'], delayMs: 600 }));
      const body = JSON.stringify({ user_email: 'gina@example.com', email_id: `${randomUUID()}.eml`, from: 'boss@example.com', subject: 'Réunion', body: 'Demain 15h' });
      const response = await fetch(`${rt.httpUrl}/api/webhooks/email`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signWebhook(TEST_WEBHOOK_SECRET, body) },
        body,
      });
      expect(response.status).toBe(202);
      const { id } = (await response.json()) as { id: string };
      await rt.ollama.waitForRequests(1);
      expect(await queue.getJobState(id)).toBe('active');

      await rt.runtime.close({ graceMs: 100 });
      expect(['completed', 'waiting', 'delayed', 'prioritized']).toContain(await queue.getJobState(id));

      await rt.restart();
      await expect.poll(() => queue.getJobState(id), { timeout: 5_000 }).toBe('completed');
      const listed = (await (await fetch(`${rt.runtime.httpUrl}/api/summaries?email=gina@example.com`)).json()) as { summaries: Array<{ summary: string }> };
      expect(listed.summaries.map((s) => s.summary)).toEqual(['Réunion demain à 15h.']);
    });
  });
});
