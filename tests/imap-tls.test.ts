import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { TestDovecot } from './support/dovecot.js';
import { TestMailServer, toolText } from './support/mail-harness.js';

const USERS = { 'alice@example.org': 'alice-pw', 'bob@example.org': 'bob-pw', 'carol@example.org': 'carol-pw' };
type User = keyof typeof USERS;

type ToolResult = Awaited<ReturnType<Client['callTool']>>;
const subjects = (r: ToolResult) => (r.structuredContent as { emails?: Array<{ subject: string }> }).emails?.map((e) => e.subject);

function message(to: string, subject: string): string {
  return `From: Dave <dave@elsewhere.org>\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@elsewhere.org>\r\n\r\nHello.\r\n`;
}

/**
 * Real providers serve IMAP and submission over TLS only, with certificates to check: here a Dovecot with a
 * certificate from a CA of its own, which the mail server trusts through `[mail] tls_ca_file` and nothing else.
 */
describe('IMAP and SMTP accounts over TLS (a real Dovecot with its own CA)', () => {
  let dovecot: TestDovecot;
  let mail: TestMailServer;
  let client: Client;
  const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args });

  function account(user: User, imapUrl: string, smtpUrl: string) {
    return { user, imap_url: imapUrl, smtp_url: smtpUrl, username: user, password: USERS[user] };
  }

  /** Dovecot logs each login with how the connection was secured: `TLS`, or `secured` for plain loopback. */
  function loggedInOverTls(service: 'imap-login' | 'submission-login', user: User): boolean {
    const escaped = user.replace(/[.@]/g, '\\$&');
    return new RegExp(`${service}: Info: Login: user=<${escaped}>, .*, TLS, `).test(dovecot.log());
  }

  beforeAll(async () => {
    dovecot = await TestDovecot.start({ users: USERS, tls: true });
    const host = '127.0.0.1';
    mail = await TestMailServer.start({
      mail: {
        tls_ca_file: dovecot.caFile,
        accounts: [
          account('alice@example.org', `imaps://${host}:${dovecot.imapsPort}`, `smtps://${host}:${dovecot.submissionsPort}`),
          account('bob@example.org', `imap://${host}:${dovecot.port}`, `smtp://${host}:${dovecot.submissionPort}`),
          account('carol@example.org', `imaps://${host}:${dovecot.imapsPort}`, `smtps://${host}:${dovecot.submissionsPort}`),
        ],
      },
    });
    client = await mail.client();
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await mail?.close();
    await dovecot?.close();
  });

  it('imaps:// (TLS from the first byte): the certificate is checked against tls_ca_file, and the tools work', async () => {
    await dovecot.deliver('alice@example.org', message('alice@example.org', 'Over implicit TLS'));
    const listed = await call('list_emails', { email: 'alice@example.org' });
    expect(listed.isError, toolText(listed)).toBeFalsy();
    expect(subjects(listed)).toEqual(['Over implicit TLS']);
    await expect.poll(() => loggedInOverTls('imap-login', 'alice@example.org')).toBe(true);
  });

  it('imap:// and smtp:// take the STARTTLS the server offers, with the same check; a send goes through', async () => {
    await dovecot.deliver('bob@example.org', message('bob@example.org', 'Over STARTTLS'));
    const listed = await call('list_emails', { email: 'bob@example.org' });
    expect(listed.isError, toolText(listed)).toBeFalsy();
    expect(subjects(listed)).toEqual(['Over STARTTLS']);
    await expect.poll(() => loggedInOverTls('imap-login', 'bob@example.org')).toBe(true);
    const sent = await call('send_email', { from: 'bob@example.org', to: 'erin@elsewhere.org', subject: 'Sent after STARTTLS', body: 'Hi Erin' });
    expect(sent.isError, toolText(sent)).toBeFalsy();
    await expect.poll(() => dovecot.relayed().some((m) => m.to.includes('erin@elsewhere.org') && m.raw.toString().includes('Hi Erin'))).toBe(true);
    await expect.poll(() => loggedInOverTls('submission-login', 'bob@example.org')).toBe(true);
  });

  it('smtps:// (TLS from the first byte): send_email is submitted over it and its copy filed in \\Sent over imaps://', async () => {
    const sent = await call('send_email', { from: 'carol@example.org', to: 'frank@elsewhere.org', subject: 'Sent over implicit TLS', body: 'Hi Frank' });
    expect(sent.isError, toolText(sent)).toBeFalsy();
    expect((sent.structuredContent as { id?: string }).id).toMatch(/^Sent\.\d+\.\d+$/);
    await expect.poll(() => dovecot.relayed().some((m) => m.to.includes('frank@elsewhere.org') && m.raw.toString().includes('Hi Frank'))).toBe(true);
    await expect.poll(() => loggedInOverTls('submission-login', 'carol@example.org')).toBe(true);
  });

  it('without tls_ca_file the same server is refused: the certificate really is checked', async () => {
    const untrusting = await TestMailServer.start({
      mail: { accounts: [account('alice@example.org', `imaps://127.0.0.1:${dovecot.imapsPort}`, `smtps://127.0.0.1:${dovecot.submissionsPort}`)] },
    });
    try {
      const other = await untrusting.client();
      const listed = await other.callTool({ name: 'list_emails', arguments: { email: 'alice@example.org' } });
      expect(listed.isError).toBe(true);
      expect(toolText(listed)).toMatch(/TLS with 127\.0\.0\.1:\d+ failed: .*certificate/);
      const sent = await other.callTool({ name: 'send_email', arguments: { from: 'alice@example.org', to: 'erin@elsewhere.org', subject: 'Never', body: 'Not sent' } });
      expect(sent.isError).toBe(true);
      expect(toolText(sent)).toMatch(/TLS with the outgoing server 127\.0\.0\.1:\d+ failed: .*certificate/);
      await other.close();
    } finally {
      await untrusting.close();
    }
  });

  it('a tls_ca_file that cannot be read or holds no certificate stops the mail server at start, naming the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-ca-'));
    try {
      const notPem = join(dir, 'not.pem');
      writeFileSync(notPem, 'not a certificate\n');
      for (const file of [notPem, join(dir, 'missing.pem')]) {
        const failed = await TestMailServer.start({ mail: { tls_ca_file: file } }).then(
          async (started) => {
            await started.close();
            return undefined;
          },
          (error: unknown) => error,
        );
        expect(failed).toBeInstanceOf(ConfigError);
        expect((failed as Error).message).toContain('tls_ca_file');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
