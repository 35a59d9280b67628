import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountEndpointStandIn } from './support/account-endpoint-stand-in.js';
import { TEST_AUDIENCE, TEST_ISSUER, TEST_JWT_SECRET, hsToken } from './support/jwt.js';
import { captureLogs } from './support/log-capture.js';
import { TestRuntime } from './support/runtime-harness.js';

/** The runtime's `/api/mail/account`, forwarded to a stand-in for the mail server's `/accounts` endpoints. */

const MAIL_TOKEN = 'mail-server-token-for-account-tests';
/** Unlike anything else in a log line, so that finding it there cannot be a coincidence. */
const PASSWORD = `app-password-${randomUUID()}`;
const WRONG_PASSWORD = `wrong-password-${randomUUID()}`;
const PATH = '/api/mail/account';
const CONNECTS_PER_USER = 3;
const JWT_AUTH = { dev_mode: false, jwt_secret: TEST_JWT_SECRET, issuer: TEST_ISSUER, audience: TEST_AUDIENCE };

const account = (overrides: Record<string, unknown> = {}) => ({
  imap_url: 'imaps://imap.example.org',
  smtp_url: 'smtp://smtp.example.org:587',
  username: 'me@example.org',
  password: PASSWORD,
  ...overrides,
});

/** A fresh address per test: accounts and rate-limit budgets never carry over. */
const someone = (name: string) => `${name}-${randomUUID().slice(0, 8)}@example.com`;

interface Call {
  user?: string;
  headers?: Record<string, string>;
  body?: unknown;
  raw?: string;
  query?: string;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { error?: { code: string; message: string }; message?: string };
}

async function call(rt: TestRuntime, method: string, { user, headers = {}, body, raw, query = '' }: Call = {}): Promise<Answer> {
  const text = raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const response = await fetch(`${rt.httpUrl}${PATH}${query}`, {
    method,
    headers: { ...(user ? { 'x-user-email': user } : {}), ...(text !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(text !== undefined ? { body: text } : {}),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Answer['body'] };
}

describe('connecting your own mailbox: /api/mail/account', () => {
  const logs = captureLogs('trace');
  let standIn: AccountEndpointStandIn;
  let rt: TestRuntime;
  let jwtRt: TestRuntime;
  let downRt: TestRuntime;
  beforeAll(async () => {
    standIn = await AccountEndpointStandIn.start({ token: MAIL_TOKEN, password: PASSWORD });
    // A port nobody listens on any more: the mail server is down.
    const gone = await AccountEndpointStandIn.start({ token: MAIL_TOKEN, password: PASSWORD });
    await gone.close();
    const mailAt = (url: string) => ({ mcp: false as const, logger: logs.logger, config: { mcp: { mail_server_url: url }, mail: { auth_token: MAIL_TOKEN } } });
    const limits = { rate_limits: { mail_account_connects_per_user: { points: CONNECTS_PER_USER, duration_s: 600 } } };
    [rt, jwtRt, downRt] = await Promise.all([
      TestRuntime.start({ ...mailAt(standIn.url), config: { ...mailAt(standIn.url).config, ...limits } }),
      TestRuntime.start({ ...mailAt(standIn.url), config: { ...mailAt(standIn.url).config, auth: JWT_AUTH } }),
      TestRuntime.start(mailAt(gone.url)),
    ]);
  });
  afterAll(async () => {
    try {
      await Promise.all([rt?.close(), jwtRt?.close(), downRt?.close()]);
    } finally {
      await standIn?.close();
    }
  });

  it('GET, PUT and DELETE reach the mail server with its token, at the signed-in user\'s own address', async () => {
    const alice = someone('alice');
    expect(await call(rt, 'GET', { user: alice })).toMatchObject({ status: 404, body: { connected: false } });

    const connected = await call(rt, 'PUT', { user: alice, body: account({ save_sent: false }) });
    expect(connected.status).toBe(200);
    expect(connected.body).toEqual({ connected: true, source: 'user', imap_url: 'imaps://imap.example.org', smtp_url: 'smtp://smtp.example.org:587', username: 'me@example.org', save_sent: false, watch: { state: 'connecting' } });
    expect(connected.headers.get('cache-control')).toBe('no-store');
    const [get, put] = standIn.requestsFor(alice);
    expect(get).toMatchObject({ method: 'GET', path: `/accounts/${encodeURIComponent(alice)}`, authorization: `Bearer ${MAIL_TOKEN}` });
    expect(put).toMatchObject({ method: 'PUT', path: `/accounts/${encodeURIComponent(alice)}`, authorization: `Bearer ${MAIL_TOKEN}` });
    expect(JSON.parse(put!.body)).toEqual(account({ save_sent: false }));

    const shown = await call(rt, 'GET', { user: alice });
    expect(shown).toMatchObject({ status: 200, body: { connected: true, username: 'me@example.org' } });
    expect(JSON.stringify(shown.body)).not.toContain(PASSWORD);

    expect(await call(rt, 'DELETE', { user: alice })).toMatchObject({ status: 200, body: { connected: false } });
    expect(await call(rt, 'DELETE', { user: alice })).toMatchObject({ status: 404, body: { connected: false } });
    expect(standIn.accounts.has(alice)).toBe(false);
  });

  it('a user only ever reaches their own account, whatever the query or the body names', async () => {
    const alice = someone('alice');
    const bob = someone('bob');
    expect((await call(rt, 'PUT', { user: alice, body: account() })).status).toBe(200);
    const aliceRequests = standIn.requestsFor(alice).length;

    const other = `?email=${encodeURIComponent(alice)}&user=${encodeURIComponent(alice)}`;
    expect(await call(rt, 'GET', { user: bob, query: other })).toMatchObject({ status: 404, body: { connected: false } });
    const named = await call(rt, 'PUT', { user: bob, query: other, body: account({ user: alice }) });
    expect(named.status).toBe(400);
    expect(named.body.message).toContain('Unrecognized key');
    expect((await call(rt, 'PUT', { user: bob, query: other, body: account() })).status).toBe(200);
    expect((await call(rt, 'DELETE', { user: bob, query: other })).status).toBe(200);

    expect(standIn.requestsFor(alice)).toHaveLength(aliceRequests);
    expect(standIn.requestsFor(bob).map((r) => `${r.method} ${r.path}`)).toEqual(['GET', 'PUT', 'DELETE'].map((m) => `${m} /accounts/${encodeURIComponent(bob)}`));
    expect(standIn.accounts.get(alice)).toMatchObject({ source: 'user', username: 'me@example.org' });
  });

  it('with JWT sign-in the token decides who the user is, not X-User-Email', async () => {
    const alice = someone('alice');
    const bob = someone('bob');
    const token = await hsToken({ email: bob });
    const asBob = { authorization: `Bearer ${token}`, 'x-user-email': alice };
    expect((await call(jwtRt, 'PUT', { headers: asBob, body: account() })).status).toBe(200);
    expect((await call(jwtRt, 'GET', { headers: asBob })).body).toMatchObject({ connected: true });
    expect(standIn.requestsFor(alice)).toEqual([]);
    expect(standIn.requestsFor(bob).map((r) => r.method)).toEqual(['PUT', 'GET']);
    // Dev mode is off here: an address alone signs nobody in.
    expect((await call(jwtRt, 'GET', { user: alice })).status).toBe(401);
    expect((await call(jwtRt, 'GET', { headers: { authorization: 'Bearer not.a.token' } })).status).toBe(401);
  });

  it('refuses the unsigned (401), a foreign Origin (403) and a body that is not JSON (415), forwarding nothing', async () => {
    const before = standIn.received.length;
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const unsigned = await call(rt, method, method === 'PUT' ? { body: account() } : {});
      expect(unsigned.status, method).toBe(401);
      expect(unsigned.body.status).toBe('error');
    }
    const carol = someone('carol');
    const foreign = { origin: 'https://evil.example.net' };
    expect((await call(rt, 'PUT', { user: carol, headers: foreign, body: account() })).status).toBe(403);
    expect((await call(rt, 'DELETE', { user: carol, headers: foreign })).status).toBe(403);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      expect((await call(rt, 'PUT', { user: carol, headers: { 'content-type': type }, body: account() })).status, type).toBe(415);
    }
    expect(standIn.received.length).toBe(before);
    // The runtime's own page is not foreign.
    expect((await call(rt, 'PUT', { user: carol, headers: { origin: rt.httpUrl }, body: account() })).status).toBe(200);
  });

  it('answers 400 for a bad body without forwarding it, naming fields but never the password', async () => {
    const dave = someone('dave');
    const bad: Array<[string, string]> = [
      ['not JSON', `{"password":"${PASSWORD}"`],
      ['no password', JSON.stringify(account({ password: undefined }))],
      ['an http IMAP URL', JSON.stringify(account({ imap_url: 'https://imap.example.org' }))],
      ['an IMAP URL as SMTP', JSON.stringify(account({ smtp_url: 'imaps://imap.example.org' }))],
      ['a URL over 2048 characters', JSON.stringify(account({ imap_url: `imaps://${'a'.repeat(2048)}.example.org` }))],
      ['credentials in the URL', JSON.stringify(account({ imap_url: `imaps://me:${PASSWORD}@imap.example.org` }))],
      ['a path in the URL', JSON.stringify(account({ smtp_url: 'smtps://smtp.example.org:465/submit' }))],
      ['a username over 320 characters', JSON.stringify(account({ username: 'u'.repeat(321) }))],
      ['a password over 1024 characters', JSON.stringify(account({ password: `${PASSWORD}${'p'.repeat(1024)}` }))],
      ['save_sent as a string', JSON.stringify(account({ save_sent: 'yes' }))],
      ['an array', JSON.stringify([account()])],
    ];
    for (const [what, raw] of bad) {
      const answer = await call(rt, 'PUT', { user: dave, raw });
      expect(answer.status, what).toBe(400);
      expect(answer.body.message, what).toMatch(/PUT \/api\/mail\/account/);
      expect(answer.body.message, what).not.toContain(PASSWORD);
    }
    expect(standIn.requestsFor(dave)).toEqual([]);
  });

  it('passes the mail server\'s refusals through: 422 with its code, 409 for an operator\'s account, 503 without a secret key', async () => {
    const erin = someone('erin');
    const wrong = await call(rt, 'PUT', { user: erin, body: account({ password: WRONG_PASSWORD }) });
    expect(wrong.status).toBe(422);
    expect(wrong.body).toEqual({ status: 'error', message: 'IMAP login failed for me@example.org: authentication failed.', error: { code: 'auth_failed', message: 'IMAP login failed for me@example.org: authentication failed.' } });

    const ops = someone('ops');
    standIn.configure(ops, { imap_url: 'imaps://imap.corp.example', smtp_url: 'smtps://smtp.corp.example:465', username: 'ops', save_sent: true, watch: { state: 'watching' } });
    expect(await call(rt, 'GET', { user: ops })).toMatchObject({ status: 200, body: { source: 'config', watch: { state: 'watching' } } });
    expect(await call(rt, 'PUT', { user: ops, body: account() })).toMatchObject({ status: 409, body: { error: { code: 'managed_by_operator' } } });
    expect(await call(rt, 'DELETE', { user: ops })).toMatchObject({ status: 409, body: { error: { code: 'managed_by_operator' } } });

    standIn.secretKey = false;
    try {
      expect(await call(rt, 'PUT', { user: someone('frank'), body: account() })).toMatchObject({ status: 503, body: { error: { code: 'no_secret_key' } } });
    } finally {
      standIn.secretKey = true;
    }
  });

  it(`allows ${CONNECTS_PER_USER} connection attempts per user in the window, then 429 with Retry-After`, async () => {
    const gina = someone('gina');
    for (let i = 0; i < CONNECTS_PER_USER; i++) expect((await call(rt, 'PUT', { user: gina, body: account({ password: WRONG_PASSWORD }) })).status).toBe(422);
    const limited = await call(rt, 'PUT', { user: gina, body: account() });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(standIn.requestsFor(gina)).toHaveLength(CONNECTS_PER_USER);
    // Reading and another user's attempts are not counted against her.
    expect((await call(rt, 'GET', { user: gina })).status).toBe(404);
    expect((await call(rt, 'PUT', { user: someone('hank'), body: account() })).status).toBe(200);
  });

  it('answers 503 with a sentence when the mail server is down', async () => {
    for (const [method, body] of [['GET', undefined], ['PUT', account()], ['DELETE', undefined]] as const) {
      const answer = await call(downRt, method, { user: someone('ivy'), body });
      expect(answer.status, method).toBe(503);
      expect(answer.body).toMatchObject({ status: 'error', error: { code: 'mail_server_unreachable', message: 'The mail server cannot be reached right now; try again later.' } });
    }
  });

  it('answers 501 for a mail server without /accounts, 502 for one outside the contract, and drops fields it should not send', async () => {
    const jack = someone('jack');
    standIn.answerNextWith({ status: 404, body: 'Cannot GET /accounts', contentType: 'text/plain' });
    expect(await call(rt, 'GET', { user: jack })).toMatchObject({ status: 501, body: { error: { code: 'not_supported', message: 'This mail server does not support connecting accounts.' } } });
    standIn.answerNextWith({ status: 404, body: JSON.stringify({ error: 'No such route' }) });
    expect((await call(rt, 'GET', { user: jack })).status).toBe(501);

    for (const scripted of [{ status: 200, body: '<html>' }, { status: 500, body: '{}' }, { status: 200, body: JSON.stringify({ connected: true }) }, { status: 200, body: 'x'.repeat(70_000) }]) {
      standIn.answerNextWith(scripted);
      expect(await call(rt, 'GET', { user: jack })).toMatchObject({ status: 502, body: { error: { code: 'mail_server' } } });
    }
    // The runtime's token refused: the operator's problem, not a signed-out user.
    standIn.answerNextWith({ status: 401, body: JSON.stringify({ error: { code: 'unauthorized', message: 'Bearer token required' } }) });
    expect(await call(rt, 'GET', { user: jack })).toMatchObject({ status: 502, body: { error: { code: 'mail_server' } } });

    const leaky = { connected: true, source: 'user', imap_url: 'imaps://i.example', smtp_url: 'smtps://s.example', username: 'jack', save_sent: true, watch: { state: 'retrying', last_error: 'timeout' }, password: 'leaked' };
    standIn.answerNextWith({ status: 200, body: JSON.stringify(leaky) });
    const shown = await call(rt, 'GET', { user: jack });
    expect(shown.status).toBe(200);
    expect(shown.body).not.toHaveProperty('password');
    expect(shown.body).toMatchObject({ watch: { state: 'retrying', last_error: 'timeout' } });
    // A mail server that does not announce new mail watches nothing: no `watch`, and that is no error.
    const { watch: _watch, password: _password, ...unwatched } = leaky;
    standIn.answerNextWith({ status: 200, body: JSON.stringify(unwatched) });
    expect(await call(rt, 'GET', { user: jack })).toMatchObject({ status: 200, body: { connected: true, username: 'jack' } });
  });

  it('never writes a password to the log', async () => {
    const kim = someone('kim');
    await call(rt, 'PUT', { user: kim, body: account() });
    await call(rt, 'PUT', { user: kim, body: account({ password: WRONG_PASSWORD }) });
    await call(rt, 'PUT', { user: kim, raw: `{"password":"${PASSWORD}"` });
    await call(downRt, 'PUT', { user: kim, body: account() });
    // The log does record the attempts: an empty capture would pass for the wrong reason.
    expect(logs.lines.filter((l) => l.msg === 'mailbox connection attempt' && l.user === kim).map((l) => l.status)).toEqual([200, 422, 503]);
    expect(logs.text()).not.toContain(PASSWORD);
    expect(logs.text()).not.toContain(WRONG_PASSWORD);
  });
});
