import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import type { Browser } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseConfig } from '../src/config/load.js';
import { ErrorCode } from '../src/errors.js';
import { TOKEN_EXPIRED_CLOSE_CODE } from '../src/server/protocol-handler.js';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { devModeByDefault, logAuthSetup } from '../src/server/auth.js';
import type { ServerMessage } from '../src/protocol/protocol.js';
import { launchBrowser, openPage } from './support/browser.js';
import { TEST_AUDIENCE, TEST_ISSUER, TEST_JWT_SECRET, TestJwks, foreignToken, hsToken, unsignedToken, withClaims } from './support/jwt.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, TestRuntime, type TestRuntimeOptions } from './support/runtime-harness.js';
import { TestClient } from './support/ws-client.js';
import { summaryAnswer } from './support/triage-answers.js';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const OPS = 'ops@example.com';
const ADMIN_TOKEN = 'auth-test-admin-token-of-32-chars';
/** Token sign-in only: no email sign-in, `iss` and `aud` checked. */
const TOKENS_ONLY = { dev_mode: false, jwt_secret: TEST_JWT_SECRET, issuer: TEST_ISSUER, audience: TEST_AUDIENCE };

type Of<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;

async function signIn(rt: TestRuntime, token: string): Promise<TestClient> {
  const client = await TestClient.connect(rt.wsUrl);
  client.send({ type: 'auth', token });
  await client.next('auth_success');
  return client;
}

/** The `auth_error` a token gets (the socket is closed after). */
async function refusalOf(rt: TestRuntime, credentials: { token?: string; email?: string }): Promise<Of<'auth_error'>> {
  const client = await TestClient.connect(rt.wsUrl);
  client.send({ type: 'auth', ...credentials });
  const refused = await client.next('auth_error');
  expect(client.messages.some((m) => m.type === 'auth_success')).toBe(false);
  await client.close();
  return refused;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function get(rt: TestRuntime, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${rt.httpUrl}${path}`, { headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function post(rt: TestRuntime, path: string, body: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`${rt.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  await response.arrayBuffer();
  return response.status;
}

/** Signs in on `/inspector/ws` and returns the first answer (`auth_success` or `auth_error`) and how the socket ended. */
async function inspectorSignIn(rt: TestRuntime, auth: Record<string, unknown>): Promise<{ answer: { type: string; code?: string; message?: string; operator?: string }; closedWith: Promise<number> }> {
  const socket = new WebSocket(`${rt.wsUrl.replace(/\/ws$/, '')}/inspector/ws`);
  const closedWith = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'auth', ...auth }));
  const [data] = (await once(socket, 'message')) as [Buffer];
  const answer = JSON.parse(String(data)) as { type: string; code?: string; message?: string; operator?: string };
  if (answer.type === 'auth_success') socket.close();
  return { answer, closedWith };
}

function conversationOf(turn: readonly ServerMessage[]): string {
  const first = turn.find((m) => 'conversation_id' in m && typeof m.conversation_id === 'string');
  if (!first || !('conversation_id' in first) || typeof first.conversation_id !== 'string') throw new Error('turn without a conversation');
  return first.conversation_id;
}

function start(options: TestRuntimeOptions): Promise<TestRuntime> {
  return TestRuntime.start({ mcp: false, ...options, config: { rate_limits: { enabled: false }, ...options.config } });
}

describe('authentication with HS256 tokens (dev mode off)', () => {
  let redis: TestRedis;
  let rt: TestRuntime;
  let aliceToken: string;
  let bobToken: string;
  let opsToken: string;
  beforeAll(async () => {
    redis = await TestRedis.start();
    rt = await start({ redisUrl: redis.url, config: { auth: TOKENS_ONLY, admin: { token: ADMIN_TOKEN } } });
    await rt.runtime.notificationsReady;
    [aliceToken, bobToken, opsToken] = await Promise.all([
      hsToken({ email: 'Alice@Example.com', roles: ['user'] }),
      hsToken({ email: BOB }),
      hsToken({ email: OPS, roles: ['admin'] }),
    ]);
  });
  afterAll(async () => {
    await rt?.close();
    await redis?.close();
  });

  describe('three ways to pass a token', () => {
    it('signs in with {"type":"auth","token"}, the email from the claim, lower-cased', async () => {
      const client = await TestClient.connect(rt.wsUrl);
      client.send({ type: 'auth', token: aliceToken });
      expect(await client.next('auth_success')).toEqual({ type: 'auth_success', email: ALICE });
      await client.close();
    });

    it('signs in at the upgrade with ?token=, before the client sends anything', async () => {
      const client = await TestClient.connect(`${rt.wsUrl}?token=${aliceToken}`);
      expect(await client.next('auth_success')).toEqual({ type: 'auth_success', email: ALICE });
      client.send({ type: 'list_conversations' });
      await client.next('conversations');
      await client.close();
    });

    it('signs in at the upgrade with the bearer.<jwt> subprotocol, and echoes "ai-runtime", never the token', async () => {
      const client = await TestClient.connect(rt.wsUrl, { protocols: ['ai-runtime', `bearer.${aliceToken}`] });
      expect(client.socket.protocol).toBe('ai-runtime');
      expect(await client.next('auth_success')).toEqual({ type: 'auth_success', email: ALICE });
      await client.close();
    });

    it('answers a bad token at the upgrade with auth_error and keeps the socket for a fresh auth', async () => {
      const expired = await hsToken({ email: ALICE }, { expiresIn: -600 });
      const client = await TestClient.connect(`${rt.wsUrl}?token=${expired}`);
      const refused = await client.next('auth_error');
      expect(refused.code).toBe(ErrorCode.AuthFailed);
      expect(refused.message).toMatch(/expired/);
      client.send({ type: 'auth', token: aliceToken });
      expect(await client.next('auth_success')).toEqual({ type: 'auth_success', email: ALICE });
      await client.close();
    });
  });

  describe('a socket outliving its token', () => {
    // Tokens the runtime stops accepting 3–4 s from now (`exp` is in whole seconds; the 30 s clock tolerance taken
    // off): long enough for a sign-in on a loaded machine, short enough to expire within the test.
    const LIFETIME_S = 4;
    const shortLived = (email: string, claims: Record<string, unknown> = {}) => hsToken({ email, ...claims }, { expiresIn: LIFETIME_S - 30 });

    it('is signed out when the token expires: auth_error auth_failed, then close 4001', async () => {
      const client = await signIn(rt, await shortLived(ALICE));
      const signedOut = await client.next('auth_error', () => true, (LIFETIME_S + 5) * 1000);
      expect(signedOut.code).toBe(ErrorCode.AuthFailed);
      expect(signedOut.message).toMatch(/expired/);
      expect((await client.closed).code).toBe(TOKEN_EXPIRED_CLOSE_CODE);
    });

    it('an inspector socket with an expiring admin JWT is signed out', async () => {
      const socket = new WebSocket(`${rt.wsUrl.replace(/\/ws$/, '')}/inspector/ws`);
      const received: Array<{ type: string; code?: string; message?: string }> = [];
      socket.on('message', (data) => received.push(JSON.parse(String(data)) as { type: string; code?: string; message?: string }));
      const closedWith = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      await once(socket, 'open');
      socket.send(JSON.stringify({ type: 'auth', token: await shortLived(OPS, { roles: ['admin'] }) }));

      expect(await closedWith).toBe(TOKEN_EXPIRED_CLOSE_CODE);
      expect(received[0]).toMatchObject({ type: 'auth_success', operator: OPS });
      expect(received.at(-1)).toMatchObject({ type: 'auth_error', code: ErrorCode.AuthFailed, message: expect.stringMatching(/expired/) as string });
    });

    it('an inspector socket signed in with the shared admin token is not timed out', async () => {
      const socket = new WebSocket(`${rt.wsUrl.replace(/\/ws$/, '')}/inspector/ws`);
      const received: string[] = [];
      socket.on('message', (data) => received.push(String(data)));
      await once(socket, 'open');
      socket.send(JSON.stringify({ type: 'auth', token: ADMIN_TOKEN, operator: 'carol' }));
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(socket.readyState).toBe(WebSocket.OPEN);
      expect(received.map((m) => (JSON.parse(m) as { type: string }).type)).not.toContain('auth_error');
      socket.close();
    });

    it('stays signed in when the client sends a fresh token in time', async () => {
      const client = await signIn(rt, await shortLived(BOB));
      client.send({ type: 'auth', token: await hsToken({ email: BOB }) });
      await client.next('auth_success');
      await new Promise((resolve) => setTimeout(resolve, (LIFETIME_S + 1) * 1000));
      client.send({ type: 'ping' });
      await client.next('pong');
      expect(client.messages.filter((m) => m.type === 'auth_error')).toEqual([]);
      await client.close();
    });
  });

  describe('refused tokens: auth_error auth_failed, saying what is wrong without echoing the token', () => {
    const cases: Array<[string, () => Promise<string> | string, RegExp]> = [
      ['an expired token', () => hsToken({ email: ALICE }, { expiresIn: -120 }), /expired/],
      ['a token from another issuer', () => hsToken({ email: ALICE }, { issuer: 'https://evil.example' }), /issuer/],
      ['a token for another audience', () => hsToken({ email: ALICE }, { audience: 'another-app' }), /audience/],
      ['a token signed with another secret', () => hsToken({ email: ALICE }, { secret: 'an-attacker-secret-0123456789-abcdef' }), /signature/i],
      ['a real token with edited claims', async () => withClaims(await hsToken({ email: BOB }), { email: BOB, roles: ['admin'], exp: Math.floor(Date.now() / 1000) + 600, iss: TEST_ISSUER, aud: TEST_AUDIENCE }), /signature/i],
      ['an unsigned token (alg none)', () => unsignedToken({ email: ALICE, roles: ['admin'] }), /unsigned.*none/],
      ['a token without exp', () => hsToken({ email: ALICE }, { expiresIn: null }), /"exp"/],
      ['a token without an email claim', () => hsToken({ sub: 'user-42' }), /email/],
      ['a token whose email claim is not an address', () => hsToken({ email: 'alice' }), /email/],
      ['a token whose email the identity provider has not verified', () => hsToken({ email: ALICE, email_verified: false }), /not verified/],
      ['something that is not a JWT', () => 'not-a-jwt', /not a JWT/],
    ];
    it.each(cases)('%s', async (_name, make, reason) => {
      const token = await make();
      const refused = await refusalOf(rt, { token });
      expect(refused.code).toBe(ErrorCode.AuthFailed);
      expect(refused.message).toMatch(reason);
      expect(refused.message).not.toContain(token);
      for (const part of token.split('.').filter((p) => p.length > 8)) expect(refused.message).not.toContain(part);
    });

    it('allows [auth] clock_tolerance_s of leeway on exp', async () => {
      const justExpired = await hsToken({ email: ALICE }, { expiresIn: -10 });
      const client = await signIn(rt, justExpired);
      await client.close();
    });
  });

  it('refuses email sign-in when dev mode is off, over the socket and over HTTP', async () => {
    const refused = await refusalOf(rt, { email: ALICE });
    expect(refused.code).toBe(ErrorCode.AuthFailed);
    expect(refused.message).toContain('dev_mode');
    expect((await get(rt, '/api/summaries', { 'x-user-email': ALICE })).status).toBe(401);
    expect((await get(rt, `/api/summaries?email=${ALICE}`)).status).toBe(401);
  });

  describe('roles', () => {
    const adminGets = ['/api/summaries/failed', '/api/inspector/reveals'];

    it.each(adminGets)('GET %s: 401 without valid credentials, 403 for a user token, 200 for an admin token or the [admin] token', async (path) => {
      expect((await get(rt, path)).status).toBe(401);
      expect((await get(rt, path, bearer('not-a-jwt'))).status).toBe(401);
      expect((await get(rt, path, bearer(await hsToken({ email: OPS, roles: ['admin'] }, { expiresIn: -600 })))).status).toBe(401);
      expect((await get(rt, path, { 'x-user-email': OPS })).status).toBe(401);
      const user = await get(rt, path, bearer(aliceToken));
      expect(user.status).toBe(403);
      expect(user.body.message).toMatch(/admin role/);
      expect((await get(rt, path, bearer(opsToken))).status).toBe(200);
      expect((await get(rt, path, bearer(ADMIN_TOKEN))).status).toBe(200);
    });

    it('keeps the admin POST endpoints from user tokens too', async () => {
      expect(await post(rt, '/api/summaries/failed/nope/retry', '', bearer(aliceToken))).toBe(403);
      expect(await post(rt, '/api/summaries/failed/nope/retry', '', bearer(opsToken))).toBe(404);
      expect(await post(rt, '/api/inspector/replay', '{}', bearer(aliceToken))).toBe(403);
      expect(await post(rt, '/api/inspector/replay', '{}', bearer(opsToken))).toBe(400);
    });

    it('reads the roles claim as one string too, and ignores roles it does not know', async () => {
      expect((await get(rt, '/api/inspector/reveals', bearer(await hsToken({ email: OPS, roles: 'admin' })))).status).toBe(200);
      expect((await get(rt, '/api/inspector/reveals', bearer(await hsToken({ email: OPS, roles: ['superuser', 'Administrator'] })))).status).toBe(403);
    });

    it('the inspector socket: a user token is refused as forbidden and closed; an admin token signs in under its own email', async () => {
      const user = await inspectorSignIn(rt, { token: aliceToken });
      expect(user.answer).toMatchObject({ type: 'auth_error', code: 'forbidden' });
      expect(user.answer.message).toMatch(/admin role/);
      expect(await user.closedWith).toBe(1008);

      const admin = await inspectorSignIn(rt, { token: opsToken, operator: 'someone-else' });
      expect(admin.answer).toEqual({ type: 'auth_success', operator: OPS });

      const shared = await inspectorSignIn(rt, { token: ADMIN_TOKEN, operator: 'carol' });
      expect(shared.answer).toEqual({ type: 'auth_success', operator: 'carol' });

      const forged = await inspectorSignIn(rt, { token: unsignedToken({ email: OPS, roles: ['admin'] }) });
      expect(forged.answer).toMatchObject({ type: 'auth_error', code: 'auth_failed' });
      expect(await forged.closedWith).toBe(1008);
    });
  });

  describe('per-user isolation between two token users', () => {
    it('B cannot resume, chat into, cancel, approve or reject A\'s conversation, nor list it', async () => {
      const alice = await signIn(rt, aliceToken);
      const id = conversationOf(await alice.chat('Bonjour'));
      const bob = await signIn(rt, bobToken);
      const requestsBefore = rt.ollama.requests.length;

      const attempts = [
        { type: 'resume', conversation_id: id },
        { type: 'chat', message: 'let me in', conversation_id: id },
        { type: 'cancel', conversation_id: id },
        { type: 'approve', call_id: 'call_1', conversation_id: id },
        { type: 'reject', call_id: 'call_1', conversation_id: id },
      ];
      for (const attempt of attempts) {
        bob.send(attempt);
        const refused = await bob.next('error');
        expect(refused.code, attempt.type).toBe(ErrorCode.NotFound);
      }
      expect(rt.ollama.requests.length).toBe(requestsBefore);
      expect(bob.messages.some((m) => m.type === 'history' || m.type === 'resumed' || m.type === 'state')).toBe(false);

      bob.send({ type: 'list_conversations' });
      expect((await bob.next('conversations')).conversations.map((c) => c.id)).not.toContain(id);
      alice.send({ type: 'list_conversations' });
      expect((await alice.next('conversations')).conversations.map((c) => c.id)).toContain(id);
      await Promise.all([alice.close(), bob.close()]);
    });

    it('A\'s notifications and summaries reach A only, live, replayed and over HTTP', async () => {
      rt.ollama.enqueue(summaryAnswer('Résumé pour Alice.'));
      const alice = await signIn(rt, aliceToken);
      const bob = await signIn(rt, bobToken);
      const body = JSON.stringify({ user_email: ALICE, email_id: `${randomUUID()}.eml`, from: 'boss@example.com', subject: 'Budget', body: 'Now at 4pm' });
      const webhook = await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers: { 'content-type': 'application/json', ...signWebhook(TEST_WEBHOOK_SECRET, body) }, body });
      expect(webhook.status).toBe(202);
      const notification = await alice.next('email_notification', () => true, 10_000);
      expect(notification.summary).toBe('Résumé pour Alice.');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(bob.messages.filter((m) => m.type === 'email_notification')).toEqual([]);

      // At the next sign-in, unacknowledged notifications are replayed: to A's new socket, never to B's.
      const aliceAgain = await signIn(rt, aliceToken);
      await aliceAgain.next('email_notification', (n) => n.email_id === notification.email_id);
      const bobAgain = await signIn(rt, bobToken);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(bobAgain.messages.filter((m) => m.type === 'email_notification')).toEqual([]);

      const aliceList = await get(rt, '/api/summaries', bearer(aliceToken));
      expect(aliceList.status).toBe(200);
      expect((aliceList.body.summaries as Array<{ email_id: string }>).map((s) => s.email_id)).toContain(notification.email_id);
      const bobList = await get(rt, '/api/summaries', bearer(bobToken));
      expect(bobList.status).toBe(200);
      expect((bobList.body.summaries as Array<{ email_id: string }>).map((s) => s.email_id)).not.toContain(notification.email_id);
      // Claiming A's address does not work without dev mode; a bad token does not either.
      expect((await get(rt, '/api/summaries', { 'x-user-email': ALICE })).status).toBe(401);
      expect((await get(rt, '/api/summaries', bearer(withClaims(bobToken, { email: ALICE, exp: Math.floor(Date.now() / 1000) + 60 })))).status).toBe(401);
      expect((await get(rt, '/api/summaries')).status).toBe(401);
      await Promise.all([alice.close(), bob.close(), aliceAgain.close(), bobAgain.close()]);
    });
  });
});

describe('authentication with a JWKS (RS256, ES256)', () => {
  let jwks: TestJwks;
  let rt: TestRuntime;
  beforeAll(async () => {
    jwks = await TestJwks.start();
    rt = await start({ config: { auth: { dev_mode: false, jwks_url: jwks.url, issuer: TEST_ISSUER, audience: TEST_AUDIENCE }, admin: { token: '' } } });
  });
  afterAll(async () => {
    await rt?.close();
    await jwks?.close();
  });

  it.each(['RS256', 'ES256'] as const)('signs in with an %s token whose key is in the JWKS', async (alg) => {
    const client = await TestClient.connect(rt.wsUrl);
    client.send({ type: 'auth', token: await jwks.sign(alg, { email: `${alg.toLowerCase()}@example.com` }) });
    expect(await client.next('auth_success')).toEqual({ type: 'auth_success', email: `${alg.toLowerCase()}@example.com` });
    expect(jwks.fetches).toBeGreaterThan(0);
    await client.close();
  });

  it('refuses an HS256 token (never HMAC with a JWKS), alg none, a foreign key and an unknown kid', async () => {
    const hs = await refusalOf(rt, { token: await hsToken({ email: ALICE }) });
    expect(hs).toMatchObject({ code: ErrorCode.AuthFailed });
    expect(hs.message).toMatch(/HS256.*RS256, ES256/);
    expect((await refusalOf(rt, { token: unsignedToken({ email: ALICE }) })).message).toMatch(/unsigned/);
    expect((await refusalOf(rt, { token: await foreignToken('RS256', 'test-rs256', { email: ALICE }) })).message).toMatch(/signature/i);
    expect((await refusalOf(rt, { token: await jwks.sign('ES256', { email: ALICE }, { kid: 'rotated-out' }) })).message).toMatch(/no key in the JWKS/);
    expect((await refusalOf(rt, { token: await jwks.sign('RS256', { email: ALICE }, { issuer: 'https://evil.example' }) })).message).toMatch(/issuer/);
  });

  it('opens the inspector to admin tokens even with no [admin] token configured', async () => {
    const admin = await jwks.sign('ES256', { email: OPS, roles: ['admin'] });
    expect((await get(rt, '/api/inspector/reveals', bearer(admin))).status).toBe(200);
    expect((await get(rt, '/api/inspector/reveals', bearer(await jwks.sign('RS256', { email: ALICE })))).status).toBe(403);
    expect((await inspectorSignIn(rt, { token: admin })).answer).toEqual({ type: 'auth_success', operator: OPS });
  });

  it('says so when the JWKS is unreachable', async () => {
    const closed = createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await start({ config: { auth: { dev_mode: false, jwks_url: `http://127.0.0.1:${port}/jwks.json` } } });
    try {
      const refused = await refusalOf(unreachable, { token: await jwks.sign('RS256', { email: ALICE }) });
      expect(refused.code).toBe(ErrorCode.AuthFailed);
      expect(refused.message).toMatch(/JWKS.*unreachable/);
    } finally {
      await unreachable.close();
    }
  });
});

describe('dev mode', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await start({ config: { auth: { dev_mode: true, jwt_secret: TEST_JWT_SECRET }, admin: { token: ADMIN_TOKEN } } });
  });
  afterAll(() => rt?.close());

  it('signs in by email when on, and tokens keep working next to it', async () => {
    const client = await TestClient.connect(rt.wsUrl);
    client.send({ type: 'auth', email: 'Dev@Example.com' });
    expect(await client.next('auth_success')).toEqual({ type: 'auth_success', email: 'dev@example.com' });
    await client.close();
    const byToken = await signIn(rt, await hsToken({ email: BOB }, { issuer: null, audience: null }));
    await byToken.close();
  });

  it('never grants admin: an email user is refused by every admin endpoint', async () => {
    expect((await get(rt, '/api/inspector/reveals', { 'x-user-email': OPS })).status).toBe(401);
    expect((await get(rt, `/api/inspector/reveals?email=${OPS}`)).status).toBe(401);
    expect((await inspectorSignIn(rt, { token: OPS })).answer).toMatchObject({ type: 'auth_error', code: 'auth_failed' });
  });
});

describe('start-up policy', () => {
  const auth = (raw: Record<string, unknown>) => parseConfig({ auth: raw }).auth;

  it('npm start turns dev mode on only when [auth] says nothing and no token verification is configured', () => {
    expect(devModeByDefault(auth({}))).toBe(true);
    expect(devModeByDefault(auth({ dev_mode: false }))).toBe(false);
    expect(devModeByDefault(auth({ jwt_secret: TEST_JWT_SECRET }))).toBe(false);
    expect(devModeByDefault(auth({ jwks_url: 'https://id.example.test/jwks.json' }))).toBe(false);
  });

  function logsOf(config: Record<string, unknown>): Array<{ level: number; msg: string }> {
    const lines: Array<{ level: number; msg: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    });
    logAuthSetup(auth(config), pino({ level: 'trace' }, sink));
    return lines;
  }
  const WARN = 40;
  const ERROR = 50;

  it('warns loudly when dev mode is on, says which verification is configured, and errors when nobody can sign in', () => {
    const dev = logsOf({ dev_mode: true });
    expect(dev.find((l) => l.level === WARN)?.msg).toMatch(/DEV MODE IS ON.*any email address/i);
    const hs = logsOf({ jwt_secret: TEST_JWT_SECRET });
    expect(hs.some((l) => l.level >= WARN)).toBe(false);
    expect(hs.map((l) => l.msg).join('\n')).toContain('HS256');
    expect(logsOf({ jwks_url: 'https://id.example.test/jwks.json' }).map((l) => l.msg).join('\n')).toContain('https://id.example.test/jwks.json');
    const nobody = logsOf({ dev_mode: false });
    expect(nobody.find((l) => l.level === ERROR)?.msg).toMatch(/Nobody can sign in.*JWT_SECRET.*dev_mode = true/);
  });
});

describe('chat UI sign-in with a token (Chromium)', () => {
  let browser: Browser;
  let rt: TestRuntime;
  beforeAll(async () => {
    [browser, rt] = await Promise.all([launchBrowser(), start({ config: { auth: TOKENS_ONLY } })]);
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
    await rt?.close();
  });

  it('takes a token from #token= in the address, drops it from the address, and keeps the tab signed in across a reload', async () => {
    const token = await hsToken({ email: ALICE });
    const { page, context, problems } = await openPage(browser, `${rt.httpUrl}/#token=${token}`);
    await expect.poll(() => page.locator('#user').textContent()).toBe(ALICE);
    expect(page.url()).not.toContain(token);
    await page.reload();
    await expect.poll(() => page.locator('#user').textContent()).toBe(ALICE);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('signs in with the token field, and shows why an email is refused without dev mode', async () => {
    const { page, context, problems } = await openPage(browser, rt.httpUrl);
    await page.getByTestId('email').fill(BOB);
    await page.getByTestId('signin').locator('button[type=submit]').click();
    await expect.poll(() => page.locator('#signin-error').textContent()).toContain('dev_mode');
    await page.getByTestId('email').fill('');
    await page.getByTestId('token').fill(await hsToken({ email: BOB }));
    await page.getByTestId('signin').locator('button[type=submit]').click();
    await expect.poll(() => page.locator('#user').textContent()).toBe(BOB);
    await page.getByTestId('composer').waitFor();
    expect(problems).toEqual([]);
    await context.close();
  });
});
