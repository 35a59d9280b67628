import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDovecot } from './support/dovecot.js';
import { captureLogs } from './support/log-capture.js';
import { TestMailServer } from './support/mail-harness.js';
import { TestRuntime } from './support/runtime-harness.js';

/**
 * `/api/mail/account` through the real mail server to a real IMAP/SMTP server (a private Dovecot): the contract the
 * stand-in (`account-endpoint-stand-in.ts`) is written from, checked against the code that serves it.
 */

const ALICE = 'alice@example.org';
const PASSWORD = 'correct-horse-battery-staple';
const WRONG_PASSWORD = 'not-the-password-at-all';
const TOKEN = 'mail-server-token-for-end-to-end';
const KEY = Buffer.alloc(32, 7).toString('base64');

describe('connecting a mailbox through the runtime and the real mail server', () => {
  const logs = captureLogs('trace');
  let dovecot: TestDovecot;
  let mail: TestMailServer;
  let rt: TestRuntime;
  beforeAll(async () => {
    dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD } });
    // The test's Dovecot is on loopback, which users may only reach where the operator allows private hosts.
    mail = await TestMailServer.start({ mail: { secret_key: KEY, auth_token: TOKEN, private_account_hosts: true }, logger: logs.logger });
    rt = await TestRuntime.start({ mcp: false, logger: logs.logger, config: { mcp: { mail_server_url: mail.mcpUrl }, mail: { auth_token: TOKEN } } });
  }, 30_000);
  afterAll(async () => {
    try {
      await rt?.close();
    } finally {
      try {
        await mail?.close();
      } finally {
        await dovecot?.close();
      }
    }
  });

  const settings = (overrides: Record<string, unknown> = {}) => ({
    imap_url: `imap://127.0.0.1:${dovecot.port}`,
    smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`,
    username: ALICE,
    password: PASSWORD,
    ...overrides,
  });

  async function call(method: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${rt.httpUrl}/api/mail/account`, {
      method,
      headers: { 'x-user-email': ALICE, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('is tried, shown without its password, and disconnected; a wrong password is auth_failed', async () => {
    expect(await call('GET')).toEqual({ status: 404, body: { connected: false } });
    const wrong = await call('PUT', settings({ password: WRONG_PASSWORD }));
    expect(wrong).toMatchObject({ status: 422, body: { status: 'error', error: { code: 'auth_failed' } } });

    const saved = await call('PUT', settings({ save_sent: false }));
    expect(saved.status).toBe(200);
    // The test mail server announces nothing, so it watches nothing: no `watch`.
    expect(saved.body).toEqual({ connected: true, source: 'user', imap_url: `imap://127.0.0.1:${dovecot.port}`, smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`, username: ALICE, save_sent: false });
    expect(await call('GET')).toEqual(saved);

    expect(await call('DELETE')).toEqual({ status: 200, body: { connected: false } });
    expect(await call('DELETE')).toEqual({ status: 404, body: { connected: false } });
    expect(logs.text()).not.toContain(PASSWORD);
    expect(logs.text()).not.toContain(WRONG_PASSWORD);
  });

  it('an operator\'s account is shown but cannot be replaced or removed (409)', async () => {
    const operated = await TestMailServer.start({
      mail: { secret_key: KEY, auth_token: TOKEN, accounts: [{ user: ALICE, imap_url: `imap://127.0.0.1:${dovecot.port}`, smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`, username: ALICE, password: PASSWORD }] },
      logger: logs.logger,
    });
    const opRt = await TestRuntime.start({ mcp: false, logger: logs.logger, config: { mcp: { mail_server_url: operated.mcpUrl }, mail: { auth_token: TOKEN } } });
    try {
      const at = (method: string, body?: unknown) =>
        fetch(`${opRt.httpUrl}/api/mail/account`, { method, headers: { 'x-user-email': ALICE, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
      expect(await at('GET')).toMatchObject({ status: 200, body: { connected: true, source: 'config', username: ALICE } });
      expect(await at('PUT', settings())).toMatchObject({ status: 409, body: { error: { code: 'managed_by_operator' } } });
      expect(await at('DELETE')).toMatchObject({ status: 409, body: { error: { code: 'managed_by_operator' } } });
    } finally {
      try {
        await opRt.close();
      } finally {
        await operated.close();
      }
    }
  });
});
