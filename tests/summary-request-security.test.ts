import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { EMAIL_FIELD_CAPS } from '../src/server/email-payload.js';
import { TEST_AUDIENCE, TEST_ISSUER, TEST_JWT_SECRET, hsToken } from './support/jwt.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, runtimesClosedAfterEach, type TestRuntime, type TestRuntimeOptions } from './support/runtime-harness.js';
import { TestClient } from './support/ws-client.js';

const ALICE = 'alice@example.com';
const ADMIN_TOKEN = 'summary-security-admin-token-32+';
const JWT_AUTH = { dev_mode: false, jwt_secret: TEST_JWT_SECRET, issuer: TEST_ISSUER, audience: TEST_AUDIENCE };

const email = (overrides: Record<string, string> = {}) => ({
  user_email: ALICE,
  email_id: `${randomUUID()}.eml`,
  from: 'it-support@example.com',
  subject: 'Your mailbox is full: click https://evil.example/login',
  body: 'Sign in again at https://evil.example/login to keep your mail.',
  ...overrides,
});

async function generate(rt: TestRuntime, body: string, headers: Record<string, string> = {}): Promise<{ status: number; message: string; retryAfter: string | null }> {
  const response = await fetch(`${rt.httpUrl}/api/generate-summary`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const answer = (await response.json()) as { message?: string };
  return { status: response.status, message: answer.message ?? '', retryAfter: response.headers.get('retry-after') };
}

async function webhook(rt: TestRuntime, body: string): Promise<{ status: number; message: string }> {
  const response = await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers: { 'content-type': 'application/json', ...signWebhook(TEST_WEBHOOK_SECRET, body) }, body });
  return { status: response.status, message: ((await response.json()) as { message?: string }).message ?? '' };
}

describe('POST /api/generate-summary has a lock', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis.close());
  const runtimes = runtimesClosedAfterEach(() => ({ mcp: false, redisUrl: redis.url }));
  const start = (options: TestRuntimeOptions = {}) => runtimes.start(options);

  it('with JWT auth, an unauthenticated POST /api/generate-summary cannot push a phishing notification (401)', async () => {
    const rt = await start({ config: { auth: JWT_AUTH, admin: { token: ADMIN_TOKEN } } });
    await rt.runtime.notificationsReady;
    const alice = await TestClient.connect(rt.wsUrl);
    alice.send({ type: 'auth', token: await hsToken({ email: ALICE }) });
    await alice.next('auth_success');

    const phishing = JSON.stringify(email());
    const attempts = [
      await generate(rt, phishing),
      await generate(rt, phishing, { 'x-user-email': ALICE }),
      await generate(rt, phishing, { authorization: 'Bearer not-the-admin-token-and-not-a-jwt' }),
      await generate(rt, phishing, signWebhook('a-secret-the-attacker-guessed', phishing)),
    ];
    expect(attempts.map((a) => a.status)).toEqual([401, 401, 401, 401]);
    expect(attempts[0]!.message).toMatch(/Bearer.*x-webhook-signature/);
    // A signed-in user is not an operator.
    expect((await generate(rt, phishing, { authorization: `Bearer ${await hsToken({ email: ALICE })}` })).status).toBe(403);

    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(alice.messages.filter((m) => m.type === 'email_notification')).toEqual([]);
    expect(rt.ollama.requests).toHaveLength(0);
    expect((await rt.runtime.queue!.counts()).waiting).toBe(0);
    await alice.close();
  });

  it('with JWT auth, the admin token, an admin JWT and the webhook signature each open it', async () => {
    const rt = await start({ config: { auth: JWT_AUTH, admin: { token: ADMIN_TOKEN } } });
    rt.ollama.setResponder(() => ({ tokens: ['Résumé.'] }));
    const adminJwt = await hsToken({ email: 'ops@example.com', roles: ['admin'] });
    const signed = JSON.stringify(email());
    for (const [how, body, headers] of [
      ['admin token', JSON.stringify(email()), { authorization: `Bearer ${ADMIN_TOKEN}` }],
      ['admin JWT', JSON.stringify(email()), { authorization: `Bearer ${adminJwt}` }],
      ['webhook signature', signed, signWebhook(TEST_WEBHOOK_SECRET, signed)],
    ] as const) {
      const answer = await generate(rt, body, headers);
      expect(answer.status, `${how}: ${answer.message}`).toBe(200);
    }
  });

  it('without any sign-in configured (dev mode off), it is locked too', async () => {
    const rt = await start({ config: { auth: { dev_mode: false } } });
    expect((await generate(rt, JSON.stringify(email()))).status).toBe(401);
  });

  it('CSRF: in dev mode on loopback, a website the developer visits cannot POST a phishing email there (403 foreign Origin, 415 text/plain)', async () => {
    const rt = await start();
    rt.ollama.setResponder(() => ({ tokens: ['Résumé.'] }));
    const phishing = JSON.stringify(email());
    // What a page elsewhere can send without a CORS preflight: a "simple" request, text/plain or a form.
    const crossSite = await generate(rt, phishing, { origin: 'https://evil.example', 'content-type': 'text/plain' });
    expect(crossSite.status).toBe(403);
    expect(crossSite.message).toContain('allowed_origins');
    expect((await generate(rt, phishing, { origin: 'https://evil.example' })).status).toBe(403);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const answer = await generate(rt, phishing, { 'content-type': type });
      expect(answer.status, type).toBe(415);
      expect(answer.message).toContain('application/json');
    }
    expect(rt.ollama.requests).toHaveLength(0);
    expect((await rt.runtime.queue!.counts()).waiting).toBe(0);

    // Still open to this machine: its own pages and clients that send no Origin.
    expect((await generate(rt, JSON.stringify(email()), { origin: rt.httpUrl })).status).toBe(200);
    expect((await generate(rt, JSON.stringify(email()), { 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
  });

  it('an oversized field cannot be pushed into Redis and the LLM: 413 names the field and its cap, on both doors', async () => {
    const rt = await start({ config: { summarization: { worker: false } } });
    for (const [field, cap] of Object.entries(EMAIL_FIELD_CAPS)) {
      const value = field === 'user_email' ? `${'a'.repeat(cap)}@example.com` : 'x'.repeat(cap + 1);
      const body = JSON.stringify(email({ [field]: value }));
      for (const answer of [await generate(rt, body), await webhook(rt, body)]) {
        expect(answer.status, field).toBe(413);
        expect(answer.message).toContain(field);
        expect(answer.message).toContain(String(cap));
      }
    }
    // At the cap is fine.
    expect((await webhook(rt, JSON.stringify(email({ body: 'x'.repeat(EMAIL_FIELD_CAPS.body) })))).status).toBe(202);
    expect((await rt.runtime.queue!.counts()).waiting).toBe(1);
  });

  it('a flood of summary requests from one address is cut off (429 with Retry-After)', async () => {
    const rt = await start({ config: { rate_limits: { summary_requests_per_ip: { points: 2, duration_s: 60 } }, summarization: { timeout_ms: 200 }, auth: JWT_AUTH } });
    // Refused or not, every call spends the caller's budget: a flood of forged calls is counted too.
    const answers = [await generate(rt, '{}'), await generate(rt, '{}'), await generate(rt, '{}')];
    expect(answers.map((a) => a.status)).toEqual([401, 401, 429]);
    expect(Number(answers[2]!.retryAfter)).toBeGreaterThan(0);
    expect(answers[2]!.message).toMatch(/summary requests: 2 per 60 s per IP address/);
  });
});
