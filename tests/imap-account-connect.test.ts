import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNTS_DIR } from '../src/mail/accounts/mail-accounts.js';
import { TestDovecot } from './support/dovecot.js';
import { freePort } from './support/embedded-config.js';
import { captureLogs } from './support/log-capture.js';
import { TestMailServer, toolText } from './support/mail-harness.js';
import { WebhookReceiver } from './support/webhook-receiver.js';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';
const PASSWORD = 'correct-horse-battery-staple';
const KEY = Buffer.alloc(32, 7).toString('base64');
const OTHER_KEY = Buffer.alloc(32, 9).toString('base64');
const TOKEN = 'mail-server-token';

describe('connecting a mailbox: tried on save, encrypted at rest, never shown', () => {
  let dovecot: TestDovecot;
  const cleanups: Array<() => Promise<void> | void> = [];
  beforeAll(async () => {
    dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD, [BOB]: 'bob-password' } });
  });
  afterAll(() => dovecot?.close());
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function root(): string {
    const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-accounts-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return join(dir, 'maildir');
  }

  /** The test's Dovecot is on loopback: users may connect accounts there only where the operator allows private hosts. */
  async function server(options: { root?: string; key?: string; accounts?: unknown[]; privateHosts?: boolean } = {}): Promise<{ mail: TestMailServer; logs: ReturnType<typeof captureLogs> }> {
    const logs = captureLogs('debug');
    const mail = await TestMailServer.start({
      mail: { secret_key: options.key ?? KEY, auth_token: TOKEN, private_account_hosts: options.privateHosts ?? true, ...(options.accounts ? { accounts: options.accounts as never } : {}) },
      logger: logs.logger,
      ...(options.root ? { root: options.root } : {}),
    });
    cleanups.push(() => mail.close());
    return { mail, logs };
  }

  function settings(overrides: Record<string, unknown> = {}) {
    return { imap_url: `imap://127.0.0.1:${dovecot.port}`, smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`, username: ALICE, password: PASSWORD, ...overrides };
  }

  async function request(mail: TestMailServer, method: string, user: string, body?: unknown, token = TOKEN): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`http://127.0.0.1:${mail.service.mcpPort}/accounts/${encodeURIComponent(user)}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('a working account is saved sealed (no password on disk, in answers or in logs) and used by the tools', async () => {
    const lasting = root();
    const { mail, logs } = await server({ root: lasting });
    await dovecot.deliver(ALICE, 'From: carol@elsewhere.org\r\nSubject: Over IMAP\r\n\r\nHello.\r\n');
    const saved = await request(mail, 'PUT', ALICE, settings());
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ connected: true, source: 'user', username: ALICE, save_sent: true, imap_url: `imap://127.0.0.1:${dovecot.port}` });
    expect(JSON.stringify(saved.body)).not.toContain(PASSWORD);
    const files = readdirSync(join(lasting, ACCOUNTS_DIR));
    expect(files).toHaveLength(1);
    const stored = readFileSync(join(lasting, ACCOUNTS_DIR, files[0]!), 'utf8');
    expect(stored).not.toContain(PASSWORD);
    expect(stored).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    expect(JSON.parse(stored)).toMatchObject({ user: ALICE, password: { v: 1 } });
    expect(logs.text()).not.toContain(PASSWORD);
    const shown = await request(mail, 'GET', ALICE);
    expect(shown.status).toBe(200);
    expect(JSON.stringify(shown.body)).not.toContain(PASSWORD);
    const client = await mail.client(TOKEN);
    const listed = await client.callTool({ name: 'list_emails', arguments: { email: ALICE } });
    expect(toolText(listed)).toContain('Over IMAP');
    await client.close();
    // Bob has no account: his answer says so, and Alice's is out of his reach by any path.
    expect((await request(mail, 'GET', BOB)).status).toBe(404);
  });

  it('each failure says which part failed: password, TLS, unreachable, outgoing server; nothing is saved', async () => {
    const lasting = root();
    const { mail, logs } = await server({ root: lasting });
    const wrong = await request(mail, 'PUT', ALICE, settings({ password: 'not-the-password' }));
    expect(wrong).toMatchObject({ status: 422, body: { error: { code: 'auth_failed' } } });
    expect(String((wrong.body.error as { message: string }).message)).toContain('app password');
    const tls = await request(mail, 'PUT', ALICE, settings({ imap_url: `imaps://127.0.0.1:${dovecot.port}` }));
    expect(tls).toMatchObject({ status: 422, body: { error: { code: 'tls_failed' } } });
    const closed = await freePort();
    const unreachable = await request(mail, 'PUT', ALICE, settings({ imap_url: `imap://127.0.0.1:${closed}` }));
    expect(unreachable).toMatchObject({ status: 422, body: { error: { code: 'unreachable' } } });
    const smtp = await request(mail, 'PUT', ALICE, settings({ smtp_url: `smtp://127.0.0.1:${closed}` }));
    expect(smtp).toMatchObject({ status: 422, body: { error: { code: 'smtp_failed' } } });
    const invalid = await request(mail, 'PUT', ALICE, settings({ imap_url: 'http://evil.example', extra: 1 }));
    expect(invalid).toMatchObject({ status: 422, body: { error: { code: 'invalid' } } });
    expect(existsSync(join(lasting, ACCOUNTS_DIR)) ? readdirSync(join(lasting, ACCOUNTS_DIR)) : []).toEqual([]);
    expect(logs.text()).not.toContain('not-the-password');
    expect((await request(mail, 'GET', ALICE)).status).toBe(404);
  });

  it('a login whose INBOX cannot be opened is no_inbox (Dovecot hides it by an ACL and says so without [NONEXISTENT])', async () => {
    const hidden = await TestDovecot.start({ users: { [ALICE]: PASSWORD }, hiddenInbox: [ALICE] });
    cleanups.push(() => hidden.close());
    const lasting = root();
    const { mail } = await server({ root: lasting });
    const refused = await request(mail, 'PUT', ALICE, settings({ imap_url: `imap://127.0.0.1:${hidden.port}`, smtp_url: `smtp://127.0.0.1:${hidden.submissionPort}` }));
    expect(refused).toMatchObject({ status: 422, body: { error: { code: 'no_inbox' } } });
    expect(String((refused.body.error as { message: string }).message)).toMatch(/^127\.0\.0\.1:\d+ has no INBOX folder for this user \(it says: Mailbox doesn't exist: INBOX/);
    expect(existsSync(join(lasting, ACCOUNTS_DIR)) ? readdirSync(join(lasting, ACCOUNTS_DIR)) : []).toEqual([]);
    // An operator's account there: its watcher says the same.
    const webhook = new WebhookReceiver('inbox-secret');
    await webhook.listen();
    cleanups.push(() => webhook.close());
    const watched = await TestMailServer.start({
      mail: {
        runtime_webhook_url: `http://127.0.0.1:${webhook.port}/api/webhooks/email`,
        accounts: [{ user: ALICE, ...settings({ imap_url: `imap://127.0.0.1:${hidden.port}`, smtp_url: `smtp://127.0.0.1:${hidden.submissionPort}` }) }],
      },
      webhooks: { secret: 'inbox-secret' },
    });
    cleanups.push(() => watched.close());
    const watch = async () => ((await request(watched, 'GET', ALICE)).body as { watch?: { state: string; last_error?: string } }).watch;
    await expect.poll(watch).toMatchObject({ state: 'retrying', last_error: expect.stringContaining('has no INBOX folder for this user') });
  });

  it('by default a user cannot point an account at a private, loopback or link-local address (SSRF); the operator can', async () => {
    const { mail } = await server({ privateHosts: false, accounts: [{ user: BOB, ...settings({ username: BOB }), password: 'bob-password' }] });
    for (const imap_url of [`imap://127.0.0.1:${dovecot.port}`, 'imap://[::1]:143', 'imaps://169.254.169.254', 'imap://10.1.2.3', 'imap://localhost:143', 'imap://[::ffff:127.0.0.1]:143']) {
      const refused = await request(mail, 'PUT', ALICE, settings({ imap_url }));
      expect(refused, imap_url).toMatchObject({ status: 422, body: { error: { code: 'host_not_allowed' } } });
    }
    const client = await mail.client(TOKEN);
    expect((await client.callTool({ name: 'get_email_count', arguments: { email: BOB } })).isError).toBeFalsy();
    await client.close();
  });

  it('the key is required: no key refuses to connect (503); stored accounts and no key, or another key, refuse to start', async () => {
    const lasting = root();
    const noKey = await server({ root: root(), key: '' });
    expect(await request(noKey.mail, 'PUT', ALICE, settings())).toMatchObject({ status: 503, body: { error: { code: 'no_secret_key' } } });
    const first = await server({ root: lasting });
    expect((await request(first.mail, 'PUT', ALICE, settings())).status).toBe(200);
    await first.mail.close();
    await expect(server({ root: lasting, key: '' })).rejects.toThrow(/secret_key \(MAIL_SECRET_KEY\) is not set/);
    await expect(server({ root: lasting, key: OTHER_KEY })).rejects.toThrow(/cannot be decrypted.*secret_key changed/);
    // The right key: the account is back after a restart.
    const again = await server({ root: lasting });
    expect((await request(again.mail, 'GET', ALICE)).body).toMatchObject({ connected: true, username: ALICE });
  });

  it('disconnecting deletes the credentials; the tools are back on the local Maildir', async () => {
    const lasting = root();
    const { mail } = await server({ root: lasting });
    expect((await request(mail, 'PUT', ALICE, settings())).status).toBe(200);
    expect(await request(mail, 'DELETE', ALICE)).toMatchObject({ status: 200, body: { connected: false } });
    expect(readdirSync(join(lasting, ACCOUNTS_DIR))).toEqual([]);
    expect((await request(mail, 'DELETE', ALICE)).status).toBe(404);
    const client = await mail.client(TOKEN);
    const listed = await client.callTool({ name: 'list_emails', arguments: { email: ALICE } });
    // example.org is not a local domain of this mail server: without the account there is no mailbox.
    expect(toolText(listed)).toContain(`There is no mailbox for ${ALICE}`);
    await client.close();
  });

  it('an operator\'s account cannot be replaced or removed by the user (409); without the token nothing is answered (401)', async () => {
    const { mail } = await server({ accounts: [{ user: ALICE, ...settings(), password: PASSWORD }] });
    expect(await request(mail, 'PUT', ALICE, settings())).toMatchObject({ status: 409, body: { error: { code: 'managed_by_operator' } } });
    expect(await request(mail, 'DELETE', ALICE)).toMatchObject({ status: 409, body: { error: { code: 'managed_by_operator' } } });
    expect((await request(mail, 'GET', ALICE)).body).toMatchObject({ connected: true, source: 'config' });
    expect((await request(mail, 'GET', ALICE, undefined, 'wrong')).status).toBe(401);
    expect((await request(mail, 'GET', 'not an address')).status).toBe(400);
  });
});
