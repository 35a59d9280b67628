import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { triageSystemPrompt } from '../src/triage/triage-prompt.js';
import { SummaryStore, UNTRIAGED } from '../src/storage/summary-store.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, type TestRuntime, runtimesClosedAfterEach, type TestRuntimeOptions } from './support/runtime-harness.js';
import type { TestClient } from './support/ws-client.js';
import { summaryAnswer } from './support/triage-answers.js';

/** `generate-summary` takes JSON only (a form post from another site would need no preflight). */
const JSON_BODY = { 'content-type': 'application/json' };
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';

const email = (overrides: Record<string, string> = {}) => ({
  user_email: ALICE,
  email_id: `${randomUUID()}.eml`,
  from: 'sender@example.com',
  subject: 'Meeting Tomorrow',
  body: "Let's meet at 3pm to discuss the project",
  ...overrides,
});

async function postWebhook(rt: TestRuntime, body: unknown, options: { secret?: string; timestamp?: number; raw?: string } = {}): Promise<Response> {
  const text = options.raw ?? JSON.stringify(body);
  const headers = signWebhook(options.secret ?? TEST_WEBHOOK_SECRET, text, options.timestamp);
  return fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: text });
}

const notificationsOf = (client: TestClient) => client.messages.filter((m) => m.type === 'email_notification');

describe('incoming-mail summaries (BullMQ on a private Redis)', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis.close());
  const runtimes = runtimesClosedAfterEach(() => ({ mcp: false, redisUrl: redis.url }));

  /** A runtime on the private Redis; `prefix` puts several nodes on one queue (each otherwise gets its own). */
  async function start(options: TestRuntimeOptions & { prefix?: string } = {}): Promise<TestRuntime> {
    const { prefix, ...rest } = options;
    const rt = await runtimes.start({ ...rest, ...(prefix ? { config: { ...rest.config, redis: { prefix, ...rest.config?.redis } } } : {}) });
    await rt.runtime.notificationsReady;
    return rt;
  }

  it('POST /api/generate-summary answers {summary} through the queue (test_generate_summary)', async () => {
    const rt = await start();
    rt.ollama.enqueue(summaryAnswer('Meeting request for tomorrow at 3pm to discuss the project'));
    const response = await fetch(`${rt.httpUrl}/api/generate-summary`, { method: 'POST', headers: JSON_BODY, body: JSON.stringify(email({ email_id: '123.eml' })) });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ summary: 'Meeting request for tomorrow at 3pm to discuss the project' });
    const request = rt.ollama.requests[0]!.body;
    expect(request.stream).toBe(false);
    expect(request.messages![0]).toEqual({ role: 'system', content: triageSystemPrompt([]) });
    // Summary and triage in one call, under Ollama's structured output.
    expect(request.format).toMatchObject({ type: 'object', properties: { category: { enum: expect.arrayContaining(['work', 'spam']) } }, required: expect.arrayContaining(['summary', 'category', 'priority', 'needs_reply']) });
    expect(request.messages![1]!.content).toContain("Let's meet at 3pm");
  });

  it('stores the summary, lists it per user, and keeps it across a restart (test_summary_persistence)', async () => {
    const rt = await start();
    rt.ollama.enqueue(summaryAnswer('Réunion demain à 15h.'));
    const body = email({ email_id: 'persist.eml' });
    expect((await fetch(`${rt.httpUrl}/api/generate-summary`, { method: 'POST', headers: JSON_BODY, body: JSON.stringify(body) })).status).toBe(200);
    await rt.restart();
    const listed = (await (await fetch(`${rt.runtime.httpUrl}/api/summaries?email=${ALICE}`)).json()) as { summaries: Array<Record<string, string>> };
    expect(listed.summaries).toEqual([expect.objectContaining({ email_id: 'persist.eml', from: 'sender@example.com', subject: 'Meeting Tomorrow', summary: 'Réunion demain à 15h.', model: 'llama3.1:8b' })]);
    const others = (await (await fetch(`${rt.runtime.httpUrl}/api/summaries`, { headers: { 'x-user-email': BOB } })).json()) as { summaries: unknown[] };
    expect(others.summaries).toEqual([]);
  });

  it('webhook → job → summary → a notification on that user\'s sockets only', async () => {
    const rt = await start();
    rt.ollama.enqueue(summaryAnswer('Alice est invitée à une réunion demain à 15h.'));
    const alice = await rt.client(ALICE);
    const aliceTab2 = await rt.client(ALICE);
    const bob = await rt.client(BOB);
    const body = email();
    const response = await postWebhook(rt, body);
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ status: 'accepted', id: expect.stringMatching(/^summary-/) });

    const notification = await alice.next('email_notification');
    expect(notification).toMatchObject({ email_id: body.email_id, from: 'sender@example.com', subject: 'Meeting Tomorrow', summary: 'Alice est invitée à une réunion demain à 15h.' });
    await aliceTab2.next('email_notification');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(notificationsOf(bob)).toEqual([]);
  });

  it('the same email announced twice gives one job, one summary, one notification', async () => {
    const rt = await start();
    rt.ollama.setResponder(() => ({ ...summaryAnswer('Un seul résumé.'), delayMs: 50 }));
    const alice = await rt.client(ALICE);
    const body = email();
    const [first, second] = await Promise.all([postWebhook(rt, body), postWebhook(rt, body)]);
    const ids = [(await first.json()) as { id: string }, (await second.json()) as { id: string }].map((b) => b.id);
    expect(ids[0]).toBe(ids[1]);
    await alice.next('email_notification');
    // Once more after it completed.
    expect((await postWebhook(rt, body)).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(notificationsOf(alice)).toHaveLength(1);
    expect(rt.ollama.requests).toHaveLength(1);
    const listed = (await (await fetch(`${rt.httpUrl}/api/summaries?email=${ALICE}`)).json()) as { summaries: unknown[] };
    expect(listed.summaries).toHaveLength(1);
  });

  it('refuses bad signatures, stale timestamps, malformed and oversized bodies', async () => {
    const rt = await start();
    const body = email();
    const wrong = await postWebhook(rt, body, { secret: 'not-the-secret' });
    expect(wrong.status).toBe(401);
    const stale = await postWebhook(rt, body, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as { message: string }).message).toMatch(/old|stale|window|tolerance/i);
    const unsigned = await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', body: JSON.stringify(body) });
    expect(unsigned.status).toBe(401);
    const missingField = await postWebhook(rt, { ...body, user_email: undefined });
    expect(missingField.status).toBe(400);
    expect(((await missingField.json()) as { message: string }).message).toContain('user_email');
    const notJson = await postWebhook(rt, undefined, { raw: '{"user_email": ' });
    expect(notJson.status).toBe(400);
    const huge = await postWebhook(rt, { ...body, body: 'x'.repeat(2 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    expect(rt.ollama.requests).toHaveLength(0);
  });

  it('a job that meets Ollama down waits and succeeds once Ollama is back', async () => {
    const rt = await start();
    await rt.ollama.stop();
    const alice = await rt.client(ALICE);
    expect((await postWebhook(rt, email())).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(notificationsOf(alice)).toEqual([]);
    await rt.ollama.restart();
    rt.ollama.enqueue(summaryAnswer('Résumé après la panne.'));
    expect((await alice.next('email_notification', () => true, 10_000)).summary).toBe('Résumé après la panne.');
  });

  it('jobs exhausting their attempts are listed as failed (admin only) and can be retried', async () => {
    const rt = await start({ config: { summarization: { attempts: 2 }, admin: { token: 'summaries-admin-token-of-32-chars' } } });
    rt.ollama.setResponder(() => ({ httpError: { status: 500, message: 'model crashed' } }));
    const body = email({ subject: 'Will fail' });
    await postWebhook(rt, body);
    const auth = { authorization: 'Bearer summaries-admin-token-of-32-chars' };
    await expect
      .poll(async () => ((await (await fetch(`${rt.httpUrl}/api/summaries/failed`, { headers: auth })).json()) as { jobs: unknown[] }).jobs, { timeout: 5_000 })
      .toEqual([expect.objectContaining({ email_id: body.email_id, subject: 'Will fail', attempts_made: 2, failed_reason: expect.stringContaining('model crashed') })]);
    expect((await fetch(`${rt.httpUrl}/api/summaries/failed`)).status).toBe(401);
    expect((await fetch(`${rt.httpUrl}/api/summaries/failed`, { headers: { authorization: 'Bearer nope-nope-no' } })).status).toBe(401);

    rt.ollama.setResponder(() => (summaryAnswer('Enfin.')));
    const alice = await rt.client(ALICE);
    const { jobs } = (await (await fetch(`${rt.httpUrl}/api/summaries/failed`, { headers: auth })).json()) as { jobs: Array<{ id: string }> };
    const retried = await fetch(`${rt.httpUrl}/api/summaries/failed/${jobs[0]!.id}/retry`, { method: 'POST', headers: auth });
    expect(retried.status).toBe(202);
    expect((await alice.next('email_notification', () => true, 5_000)).summary).toBe('Enfin.');
    expect((await fetch(`${rt.httpUrl}/api/summaries/failed/nope/retry`, { method: 'POST', headers: auth })).status).toBe(404);
  });

  it('generate-summary answers 504 with a clear message when the LLM is too slow', async () => {
    const rt = await start({ config: { summarization: { timeout_ms: 300 } } });
    rt.ollama.enqueue({ ...summaryAnswer('trop tard'), headersDelayMs: 800 });
    const response = await fetch(`${rt.httpUrl}/api/generate-summary`, { method: 'POST', headers: JSON_BODY, body: JSON.stringify(email()) });
    expect(response.status).toBe(504);
    expect(((await response.json()) as { message: string }).message).toMatch(/not ready within 300 ms/);
  });

  it('two runtime nodes on one Redis: a user on node B gets the notification of a job done by node A', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const a = await start({ prefix });
    const b = await start({ prefix, ollama: a.ollama, config: { summarization: { worker: false } } });
    a.ollama.enqueue(summaryAnswer('Traité par A.'));
    const onB = await b.client(ALICE);
    const bobOnB = await b.client(BOB);
    expect((await postWebhook(a, email())).status).toBe(202);
    expect((await onB.next('email_notification')).summary).toBe('Traité par A.');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(notificationsOf(bobOnB)).toEqual([]);
  });

  it('after a Redis restart a node subscribes to notifications again, and its users get them live', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const a = await start({ prefix });
    const b = await start({ prefix, ollama: a.ollama, config: { summarization: { worker: false } } });
    const onB = await b.client(ALICE);
    await redis.stop();
    await redis.restart();
    // Pub/sub keeps nothing: wait until both nodes listen again (what was published before is replayed at sign-in).
    const probe = new Redis(redis.url);
    try {
      await expect.poll(async () => (await probe.pubsub('NUMSUB', `${prefix}:notifications`))[1], { timeout: 15_000 }).toBe(2);
    } finally {
      probe.disconnect();
    }
    a.ollama.enqueue(summaryAnswer('Après le redémarrage.'));
    expect((await postWebhook(a, email({ email_id: 'after-restart' }))).status).toBe(202);
    expect((await onB.next('email_notification', () => true, 15_000)).summary).toBe('Après le redémarrage.');
  });

  it('`npm run worker` processes jobs in its own process for a runtime that runs none', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const rt = await start({ prefix, config: { summarization: { worker: false } } });
    const worker = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
      env: { ...process.env, REDIS_URL: redis.url, OLLAMA_BASE_URL: rt.ollama.url, AI_RUNTIME_DB_PATH: join(rt.dir, 'runtime.db'), LOG_LEVEL: 'info', WORKER_METRICS_ADDR: '127.0.0.1:0', AI_RUNTIME_CONFIG: join(rt.dir, 'worker.toml') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    writeFileSync(join(rt.dir, 'worker.toml'), `[redis]\nprefix = "${prefix}"\n`);
    try {
      let output = '';
      worker.stdout.on('data', (d: Buffer) => (output += String(d)));
      worker.stderr.on('data', (d: Buffer) => (output += String(d)));
      await expect.poll(() => output, { timeout: 10_000 }).toContain('summary worker running');
      rt.ollama.enqueue(summaryAnswer('Fait par le worker.'));
      const alice = await rt.client(ALICE);
      await postWebhook(rt, email());
      expect((await alice.next('email_notification', () => true, 10_000)).summary).toBe('Fait par le worker.');
      await expect.poll(() => output).toContain('email summarized');
    } finally {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.kill('SIGTERM');
      await exited;
    }
  });

  it('an offline user gets what they missed when they sign in, until they acknowledge it', async () => {
    const rt = await start();
    rt.ollama.enqueue(summaryAnswer('Premier.'), summaryAnswer('Second.'));
    const first = email({ subject: 'First' });
    const second = email({ subject: 'Second' });
    await postWebhook(rt, first);
    await expect.poll(async () => ((await (await fetch(`${rt.httpUrl}/api/summaries?email=${ALICE}`)).json()) as { summaries: unknown[] }).summaries.length).toBe(1);
    await postWebhook(rt, second);
    await expect.poll(async () => ((await (await fetch(`${rt.httpUrl}/api/summaries?email=${ALICE}`)).json()) as { summaries: unknown[] }).summaries.length).toBe(2);

    const alice = await rt.client(ALICE);
    const replayed = [await alice.next('email_notification'), await alice.next('email_notification')];
    expect(replayed.map((n) => n.subject)).toEqual(['First', 'Second']);
    alice.send({ type: 'ack_notifications', up_to: replayed[1]!.created_at });
    alice.send({ type: 'ping' });
    await alice.next('pong');

    const later = await rt.client(ALICE);
    later.send({ type: 'ping' });
    await later.next('pong');
    expect(notificationsOf(later)).toEqual([]);
    const bob = await rt.client(BOB);
    bob.send({ type: 'ping' });
    await bob.next('pong');
    expect(notificationsOf(bob)).toEqual([]);
  });

  it('answers 503 (and loses nothing) while Redis is down, and queued jobs survive a Redis restart', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    // A node without a worker queues; the jobs wait in Redis.
    const producer = await start({ prefix, config: { summarization: { worker: false } } });
    const bodies = [email({ subject: 'one' }), email({ subject: 'two' }), email({ subject: 'three' })];
    for (const body of bodies) expect((await postWebhook(producer, body)).status).toBe(202);

    await redis.stop();
    const refused = await postWebhook(producer, email({ subject: 'during outage' }));
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { message: string }).message).toMatch(/try again/);
    await redis.restart();

    const worker = await start({ prefix, ollama: producer.ollama, dir: producer.dir });
    worker.ollama.setResponder((req) => summaryAnswer(`Résumé de ${String(req.body.messages?.[1]?.content).match(/Subject: (\w+)/)?.[1]}`));
    await expect
      .poll(async () => ((await (await fetch(`${worker.httpUrl}/api/summaries?email=${ALICE}`)).json()) as { summaries: Array<{ subject: string }> }).summaries.map((s) => s.subject).sort(), { timeout: 10_000 })
      .toEqual(['one', 'three', 'two']);
  });
});

describe('summaries without Redis', () => {
  const runtimes = runtimesClosedAfterEach(() => ({ mcp: false }));

  it('GET /api/summaries reads storage: a runtime without Redis still lists what was summarized, and only the caller\'s', async () => {
    const rt = await runtimes.start();
    const store = new SummaryStore(rt.runtime.db);
    const stored = { emailId: 'kept.eml', from: 'boss@example.com', subject: 'Budget', summary: 'Budget meeting at 4pm.', model: 'm', createdAt: new Date().toISOString(), triage: UNTRIAGED };
    await store.insert({ ...stored, userEmail: ALICE });
    await store.insert({ ...stored, emailId: 'bobs.eml', userEmail: BOB });
    const response = await fetch(`${rt.httpUrl}/api/summaries`, { headers: { 'x-user-email': ALICE } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { summaries: Array<{ email_id: string }> }).summaries.map((s) => s.email_id)).toEqual(['kept.eml']);
    // What needs the queue still says why it cannot work.
    expect((await fetch(`${rt.httpUrl}/api/generate-summary`, { method: 'POST', headers: JSON_BODY, body: JSON.stringify(email()) })).status).toBe(503);
  });

  it('/health tells the truth: summaries enabled without Redis are "down" and the node "degraded", never "off" and "ok"', async () => {
    const rt = await runtimes.start();
    const health = (await (await fetch(`${rt.httpUrl}/health`)).json()) as { status: string; summaries: { status: string; message?: string } };
    expect(health.status).toBe('degraded');
    expect(health.summaries).toMatchObject({ status: 'down', message: expect.stringMatching(/Redis/) as string });
    const off = await runtimes.start({ config: { summarization: { enabled: false } } });
    expect(await (await fetch(`${off.httpUrl}/health`)).json()).toMatchObject({ status: 'ok', summaries: { status: 'off' } });
  });
});
