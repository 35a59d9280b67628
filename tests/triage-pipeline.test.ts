import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmailWebhookPayload } from '../src/mail/email-webhook.js';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, TestRuntime } from './support/runtime-harness.js';
import { summaryAnswer, triageAnswer } from './support/triage-answers.js';
import type { TestClient } from './support/ws-client.js';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const JSON_HEADERS = { 'content-type': 'application/json' };

type Summary = { email_id: string; summary: string; category: string; priority: string; needs_reply: boolean | null; triage_reason: string };
type Rule = { id: string; from?: string; words?: string; priority?: string; not_spam?: boolean };

describe('triage of incoming mail (runtime, BullMQ on a private Redis, the fake Ollama under structured output)', () => {
  let redis: TestRedis;
  let rt: TestRuntime;
  let alice: TestClient;
  beforeAll(async () => {
    redis = await TestRedis.start();
    rt = await TestRuntime.start({ mcp: false, redisUrl: redis.url });
    await rt.runtime.notificationsReady;
    alice = await rt.client(ALICE);
  });
  afterAll(async () => {
    await alice?.close();
    await rt?.close();
    await redis?.close();
  });

  function mail(overrides: Partial<EmailWebhookPayload> = {}): EmailWebhookPayload {
    return { user_email: ALICE, email_id: `${randomUUID()}.eml`, from: 'Carol <carol@elsewhere.org>', subject: 'Lunch?', body: 'Are you free for lunch on Friday?', ...overrides };
  }

  /** Announces `email` as the mail server does, and waits for its notification on Alice's socket. */
  async function triaged(email: EmailWebhookPayload) {
    const body = JSON.stringify(email);
    const response = await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers: { ...JSON_HEADERS, ...signWebhook(TEST_WEBHOOK_SECRET, body) }, body });
    expect(response.status).toBe(202);
    return alice.next('email_notification', (m) => m.email_id === email.email_id);
  }

  async function summaries(query = '', user = ALICE): Promise<Summary[]> {
    const response = await fetch(`${rt.httpUrl}/api/summaries${query}`, { headers: { 'x-user-email': user } });
    expect(response.status).toBe(200);
    return ((await response.json()) as { summaries: Summary[] }).summaries;
  }

  async function addRule(rule: object, user = ALICE): Promise<Response> {
    return fetch(`${rt.httpUrl}/api/triage/rules`, { method: 'POST', headers: { ...JSON_HEADERS, 'x-user-email': user }, body: JSON.stringify(rule) });
  }

  /** The requests the fake Ollama got for one mail (its subject is in the prompt). */
  const requestsAbout = (subject: string) => rt.ollama.requests.filter((r) => String(r.body.messages?.[1]?.content).includes(`Subject: ${subject}`));

  it('the LLM triages in the same call as the summary, under a JSON Schema; the notification and the row carry it', async () => {
    rt.ollama.setResponder(() => summaryAnswer('Carol asks about an unpaid invoice.', { category: 'finance', priority: 'high', needs_reply: true }));
    const email = mail({ subject: 'Invoice 2024-113 overdue' });
    const notification = await triaged(email);
    expect(notification).toMatchObject({ summary: 'Carol asks about an unpaid invoice.', category: 'finance', priority: 'high', needs_reply: true });
    const [request, ...more] = requestsAbout('Invoice 2024-113 overdue');
    expect(more).toEqual([]);
    expect(request!.body.format).toMatchObject({ properties: { category: { enum: ['personal', 'work', 'newsletter', 'notification', 'finance', 'spam'] } } });
    expect((await summaries()).find((s) => s.email_id === email.email_id)).toMatchObject({ category: 'finance', priority: 'high', needs_reply: true, triage_reason: 'the LLM' });
  });

  it('certain headers decide without being overruled: bulk mail is a low newsletter, flagged mail low spam, whatever the LLM says', async () => {
    rt.ollama.setResponder(() => summaryAnswer('Big news!', { category: 'work', priority: 'high', needs_reply: true }));
    const newsletter = await triaged(mail({ subject: 'Weekly digest', headers: { 'list-unsubscribe': '<mailto:unsub@news.example>' } }));
    expect(newsletter).toMatchObject({ category: 'newsletter', priority: 'low', needs_reply: false });
    const spam = await triaged(mail({ subject: 'You won', headers: { 'x-spam-status': 'No, score=7.3 required=5.0', 'list-unsubscribe': '<https://x.example/u>' } }));
    expect(spam).toMatchObject({ category: 'spam', priority: 'low', needs_reply: false });
    const bounce = await triaged(mail({ subject: 'Undelivered Mail', from: 'MAILER-DAEMON@mx.example.org', headers: { 'auto-submitted': 'auto-replied' } }));
    // A machine's mail: its category and "no reply" are certain, its priority is the LLM's to say.
    expect(bounce).toMatchObject({ category: 'notification', priority: 'high', needs_reply: false });
    const rows = await summaries('?category=spam');
    expect(rows.map((s) => s.email_id)).toEqual([spam.email_id]);
    expect(rows[0]!.triage_reason).toMatch(/spam score 7\.3 ≥ 5/);
  });

  it('an answer off the schema is asked for once more, then the triage is unknown with the reason and the summary comes from a plain call', async () => {
    let call = 0;
    rt.ollama.setResponder((request) => {
      if (!String(request.body.messages?.[1]?.content).includes('Subject: Garbled')) return undefined;
      call += 1;
      if (call === 1) return { json: { ...triageAnswer('x'), category: 'urgent' } };
      if (call === 2) return { json: triageAnswer('cut short'), truncateJsonAt: 20 };
      return { tokens: ['A plain summary.'] };
    });
    const notification = await triaged(mail({ subject: 'Garbled' }));
    expect(notification).toMatchObject({ summary: 'A plain summary.', category: 'unknown', priority: 'unknown', needs_reply: null });
    const requests = requestsAbout('Garbled');
    expect(requests.map((r) => r.body.format !== undefined)).toEqual([true, true, false]);
    const row = (await summaries()).find((s) => s.email_id === notification.email_id)!;
    expect(row.triage_reason).toMatch(/off the schema twice \(not JSON/);
  });

  it("the user's rules come before the LLM: a sender pattern sets the priority, plain words reach the prompt; each user has their own", async () => {
    expect((await addRule({ from: 'boss@acme.example', priority: 'high' })).status).toBe(201);
    const words = 'Anything about the Zephyr project is work';
    expect((await addRule({ words })).status).toBe(201);
    expect((await addRule({ from: 'x@y', words: 'both' })).status).toBe(400);
    expect((await addRule({ subject: 'hi' })).status).toBe(400);
    const bobs = (await (await addRule({ from: 'boss@acme.example', priority: 'low' }, BOB)).json()) as { rule: Rule };

    rt.ollama.setResponder(() => summaryAnswer('The boss wants the report.', { category: 'work', priority: 'low', needs_reply: true }));
    const fromBoss = await triaged(mail({ subject: 'Report', from: 'The Boss <boss@acme.example>' }));
    expect(fromBoss).toMatchObject({ category: 'work', priority: 'high', needs_reply: true });
    expect(String(requestsAbout('Report')[0]!.body.messages?.[0]?.content)).toContain(`- ${words}`);

    const listed = (await (await fetch(`${rt.httpUrl}/api/triage/rules`, { headers: { 'x-user-email': ALICE } })).json()) as { rules: Rule[] };
    expect(listed.rules.map((r) => r.from ?? r.words)).toEqual(['boss@acme.example', words]);
    // Bob's rule is not Alice's: she can neither see it nor delete it.
    expect(listed.rules.map((r) => r.id)).not.toContain(bobs.rule.id);
    const foreign = await fetch(`${rt.httpUrl}/api/triage/rules/${bobs.rule.id}`, { method: 'DELETE', headers: { 'x-user-email': ALICE } });
    expect(foreign.status).toBe(404);
    for (const rule of listed.rules) {
      expect((await fetch(`${rt.httpUrl}/api/triage/rules/${rule.id}`, { method: 'DELETE', headers: { 'x-user-email': ALICE } })).status).toBe(200);
    }
  });

  it('"not spam" becomes a rule: the next mail of that sender is never spam, not even for the LLM', async () => {
    rt.ollama.setResponder(() => summaryAnswer('A message from Dave.', { category: 'spam', priority: 'low' }));
    const flagged = await triaged(mail({ subject: 'Photos', from: 'Dave <dave@friends.example>', headers: { 'x-spam-flag': 'YES' } }));
    expect(flagged).toMatchObject({ category: 'spam' });
    const response = await fetch(`${rt.httpUrl}/api/summaries/${encodeURIComponent(flagged.email_id)}/not-spam`, { method: 'POST', headers: { 'x-user-email': ALICE } });
    expect(response.status).toBe(200);
    const { rule, summary } = (await response.json()) as { rule: Rule; summary: Summary };
    expect(rule).toMatchObject({ from: 'dave@friends.example', not_spam: true });
    expect(summary).toMatchObject({ category: 'unknown', triage_reason: expect.stringContaining('not spam') });
    // Bob cannot touch Alice's summary.
    expect((await fetch(`${rt.httpUrl}/api/summaries/${encodeURIComponent(flagged.email_id)}/not-spam`, { method: 'POST', headers: { 'x-user-email': BOB } })).status).toBe(404);

    rt.ollama.setResponder(() => summaryAnswer('More photos from Dave.', { category: 'personal', priority: 'normal' }));
    const next = await triaged(mail({ subject: 'More photos', from: 'dave@friends.example', headers: { 'x-spam-flag': 'YES' } }));
    expect(next).toMatchObject({ category: 'personal', priority: 'normal' });
    const schema = requestsAbout('More photos')[0]!.body.format as { properties: { category: { enum: string[] } } };
    expect(schema.properties.category.enum).not.toContain('spam');
  });

  it('GET /api/summaries filters by priority and needs_reply, and refuses a filter value it does not know', async () => {
    rt.ollama.setResponder(() => summaryAnswer('Please confirm by noon.', { category: 'work', priority: 'high', needs_reply: true }));
    const urgent = await triaged(mail({ subject: 'Confirm by noon' }));
    const high = await summaries('?priority=high&needs_reply=true');
    expect(high.map((s) => s.email_id)).toContain(urgent.email_id);
    expect(high.every((s) => s.priority === 'high' && s.needs_reply === true)).toBe(true);
    expect(await summaries('?priority=high', BOB)).toEqual([]);
    const bad = await fetch(`${rt.httpUrl}/api/summaries?category=urgent`, { headers: { 'x-user-email': ALICE } });
    expect(bad.status).toBe(400);
  });
});
