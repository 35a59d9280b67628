import { readFileSync } from 'node:fs';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDovecot } from './support/dovecot.js';
import { EMAIL_FIXTURES_DIR, emailFixtures } from './support/email-fixtures.js';
import { TestMailServer, toolText } from './support/mail-harness.js';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.com';
const PASSWORD = 'alice-app-password';

type Summary = { id: string; subject: string; from: string; seen: boolean; snippet: string; hasAttachments: boolean };
type Structured = { emails?: Summary[]; unread?: number; email?: { text: string; subject: string; attachments: unknown[] }; id?: string | null; relayed?: string[] };
type ToolResult = Awaited<ReturnType<Client['callTool']>>;
const structured = (r: ToolResult) => r.structuredContent as Structured;

function message(subject: string, body: string, extra = ''): string {
  return `From: Carol <carol@elsewhere.org>\r\nTo: ${ALICE}\r\nSubject: ${subject}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@elsewhere.org>\r\n${extra}\r\n${body}\r\n`;
}

/** The account's mailbox seen directly, as another mail client would. */
async function imap(dovecot: TestDovecot, work: (client: ImapFlow) => Promise<void>): Promise<void> {
  const client = new ImapFlow({ host: '127.0.0.1', port: dovecot.port, secure: false, auth: { user: ALICE, pass: PASSWORD }, logger: false });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.logout();
  }
}

describe('the seven tools over an IMAP account (a real Dovecot)', () => {
  let dovecot: TestDovecot;
  let mail: TestMailServer;
  let client: Client;
  const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args });

  beforeAll(async () => {
    dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD } });
    mail = await TestMailServer.start({
      mail: {
        accounts: [{ user: ALICE, imap_url: `imap://127.0.0.1:${dovecot.port}`, smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`, username: ALICE, password_env: 'ALICE_IMAP_PASSWORD' }],
      },
      env: { ALICE_IMAP_PASSWORD: PASSWORD },
    });
    client = await mail.client();
    await dovecot.deliver(ALICE, message('Quarterly report', 'The numbers are in: revenue up 12 percent.'));
    await dovecot.deliver(ALICE, message('Lunch on Friday', 'Shall we try the new ramen place?'));
    await dovecot.deliver(ALICE, message('Invoice 4711', 'Please find the invoice attached.'));
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await mail?.close();
    await dovecot?.close();
  });

  it('list_emails fetches newest first with ids of folder, UIDVALIDITY and UID; get_email_count counts unread', async () => {
    const listed = structured(await call('list_emails', { email: ALICE }));
    expect(listed.emails!.map((e) => e.subject)).toEqual(['Invoice 4711', 'Lunch on Friday', 'Quarterly report']);
    for (const e of listed.emails!) {
      expect(e.id).toMatch(/^INBOX\.\d+\.\d+$/);
      expect(e.from).toBe('Carol <carol@elsewhere.org>');
      expect(e.seen).toBe(false);
    }
    expect(listed.emails![2]!.snippet).toContain('revenue up 12 percent');
    expect(structured(await call('list_emails', { email: ALICE, limit: 1 })).emails!.map((e) => e.subject)).toEqual(['Invoice 4711']);
    expect(structured(await call('get_email_count', { email: ALICE })).unread).toBe(3);
  });

  it('read_email returns the text without marking it read; mark_as_read sets \\Seen on the server', async () => {
    const [, lunch] = structured(await call('list_emails', { email: ALICE })).emails!;
    const read = await call('read_email', { email: ALICE, email_id: lunch!.id });
    expect(read.isError, toolText(read)).toBeFalsy();
    expect(structured(read).email!.text).toContain('new ramen place');
    expect(structured(await call('get_email_count', { email: ALICE })).unread).toBe(3);
    const marked = await call('mark_as_read', { email: ALICE, email_id: lunch!.id });
    expect(structured(marked).email!.subject).toBe('Lunch on Friday');
    expect(structured(await call('get_email_count', { email: ALICE })).unread).toBe(2);
    await imap(dovecot, async (c) => {
      const seen = (await c.status('INBOX', { unseen: true })).unseen;
      expect(seen).toBe(2);
    });
  });

  it('search_emails runs on the server over sender, subject and body', async () => {
    expect(structured(await call('search_emails', { email: ALICE, query: 'ramen' })).emails!.map((e) => e.subject)).toEqual(['Lunch on Friday']);
    expect(structured(await call('search_emails', { email: ALICE, query: 'invoice' })).emails!.map((e) => e.subject)).toEqual(['Invoice 4711']);
    expect(structured(await call('search_emails', { email: ALICE, query: 'carol' })).emails).toHaveLength(3);
    expect(structured(await call('search_emails', { email: ALICE, query: 'nothing-like-this' })).emails).toEqual([]);
  });

  it('delete_email moves the message to the \\Trash folder; the id is then not found', async () => {
    const invoice = structured(await call('search_emails', { email: ALICE, query: 'Invoice 4711' })).emails![0]!;
    const deleted = await call('delete_email', { email: ALICE, email_id: invoice.id });
    expect(deleted.isError, toolText(deleted)).toBeFalsy();
    expect(structured(await call('list_emails', { email: ALICE })).emails!.map((e) => e.subject)).not.toContain('Invoice 4711');
    await imap(dovecot, async (c) => {
      const lock = await c.getMailboxLock('Trash');
      try {
        const inTrash = await c.fetchAll('1:*', { envelope: true });
        expect(inTrash.map((m) => m.envelope?.subject)).toEqual(['Invoice 4711']);
      } finally {
        lock.release();
      }
    });
    const again = await call('read_email', { email: ALICE, email_id: invoice.id });
    expect(again.isError).toBe(true);
    expect(toolText(again)).toContain('No email with id');
  });

  it('a stale id (another UIDVALIDITY) and a malformed one get clear tool errors', async () => {
    const [first] = structured(await call('list_emails', { email: ALICE })).emails!;
    const [, validity, uid] = first!.id.split('.');
    const stale = await call('read_email', { email: ALICE, email_id: `INBOX.${Number(validity) + 1}.${uid}` });
    expect(stale.isError).toBe(true);
    expect(toolText(stale)).toContain('earlier state of the mailbox');
    const bad = await call('read_email', { email: ALICE, email_id: '../../etc/passwd' });
    expect(bad.isError).toBe(true);
    expect(toolText(bad)).toContain('not a valid email id');
  });

  it('send_email submits through the account\'s SMTP server (AUTH) and files a copy in \\Sent', async () => {
    const sent = await call('send_email', { from: ALICE, to: 'dave@elsewhere.org', subject: 'Re: Lunch on Friday', body: 'Yes, 12:30!' });
    expect(sent.isError, toolText(sent)).toBeFalsy();
    expect(structured(sent).id).toMatch(/^Sent\.\d+\.\d+$/);
    const [relayed] = await dovecot.waitForRelayed(1);
    expect(relayed!.from).toBe(ALICE);
    expect(relayed!.to).toEqual(['dave@elsewhere.org']);
    expect(relayed!.raw.toString()).toContain('Yes, 12:30!');
    await imap(dovecot, async (c) => {
      const folders = await c.list();
      const sentFolder = folders.find((f) => f.specialUse === '\\Sent');
      expect(sentFolder).toBeDefined();
      const lock = await c.getMailboxLock(sentFolder!.path);
      try {
        const copies = await c.fetchAll('1:*', { envelope: true, flags: true });
        expect(copies.map((m) => m.envelope?.subject)).toEqual(['Re: Lunch on Friday']);
        expect(copies[0]!.flags?.has('\\Seen')).toBe(true);
      } finally {
        lock.release();
      }
    });
  });

  it('mail that arrives between two calls on a pooled connection is seen by the next one (the session is synced first)', async () => {
    const before = structured(await call('list_emails', { email: ALICE })).emails!.length;
    await dovecot.deliver(ALICE, message('Arrived just now', 'Fresh.'));
    const after = structured(await call('list_emails', { email: ALICE })).emails!;
    expect(after).toHaveLength(before + 1);
    expect(after[0]!.subject).toBe('Arrived just now');
    const read = await call('read_email', { email: ALICE, email_id: after[0]!.id });
    expect(read.isError, toolText(read)).toBeFalsy();
  });

  it('a user without an account keeps the local Maildir, and never reaches the account by naming its ids', async () => {
    await mail.sendSmtp({ from: 'x@example.com', to: BOB, subject: 'Local only', text: 'Maildir mail' });
    expect(structured(await call('list_emails', { email: BOB })).emails!.map((e) => e.subject)).toEqual(['Local only']);
    const aliceId = structured(await call('list_emails', { email: ALICE })).emails![0]!.id;
    const across = await call('read_email', { email: BOB, email_id: aliceId });
    expect(across.isError).toBe(true);
    expect(toolText(across)).not.toContain('Quarterly');
  });
});

describe('real-world mail in an IMAP mailbox', () => {
  const FIXTURES = EMAIL_FIXTURES_DIR;
  const files = emailFixtures;

  it('every fixture appended over IMAP is listed and readable through the tools', async () => {
    const fixtures = files(FIXTURES);
    expect(fixtures.length).toBeGreaterThan(50);
    const dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD } });
    let mail: TestMailServer | undefined;
    let client: Client | undefined;
    try {
      await imap(dovecot, async (c) => {
        for (const path of fixtures) await c.append('INBOX', readFileSync(path));
      });
      mail = await TestMailServer.start({
        mail: { accounts: [{ user: ALICE, imap_url: `imap://127.0.0.1:${dovecot.port}`, smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`, username: ALICE, password: PASSWORD }] },
      });
      client = await mail.client();
      const list = structured(await client.callTool({ name: 'list_emails', arguments: { email: ALICE, limit: 100 } })).emails!;
      expect(list).toHaveLength(fixtures.length);
      for (const summary of list) {
        expect(summary.subject.length).toBeGreaterThan(0);
        const read = await client.callTool({ name: 'read_email', arguments: { email: ALICE, email_id: summary.id } });
        expect(read.isError, toolText(read)).toBeFalsy();
        expect(toolText(read)).toContain(`Subject: ${summary.subject}`);
      }
      expect(list.some((e) => e.hasAttachments)).toBe(true);
    } finally {
      await client?.close();
      await mail?.close();
      await dovecot.close();
    }
  }, 120_000);
});

describe('send_email for an account with save_sent = false (a provider that files sent mail itself)', () => {
  it('submits the message and appends nothing to \\Sent, nor to any other folder', async () => {
    const dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD } });
    let mail: TestMailServer | undefined;
    let client: Client | undefined;
    try {
      mail = await TestMailServer.start({
        mail: {
          accounts: [{ user: ALICE, imap_url: `imap://127.0.0.1:${dovecot.port}`, smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`, username: ALICE, password: PASSWORD, save_sent: false }],
        },
      });
      client = await mail.client();
      const sent = await client.callTool({ name: 'send_email', arguments: { from: ALICE, to: 'dave@elsewhere.org', subject: 'Filed by the provider', body: 'No copy here.' } });
      expect(sent.isError, toolText(sent)).toBeFalsy();
      expect(structured(sent).id).toBeNull();
      expect(toolText(sent)).toContain('Your mail provider files the copy in Sent.');
      const [relayed] = await dovecot.waitForRelayed(1);
      expect(relayed!.raw.toString()).toContain('No copy here.');
      // Whatever the account's folders are (a Sent one is made only to file a copy), none holds a message.
      await imap(dovecot, async (c) => {
        const folders = await c.list({ statusQuery: { messages: true } });
        expect(folders.map((f) => [f.path, f.status?.messages])).toEqual(folders.map((f) => [f.path, 0]));
      });
    } finally {
      await client?.close();
      await mail?.close();
      await dovecot.close();
    }
  });
});
