import { readdirSync, readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDovecot } from './support/dovecot.js';
import { TestMailServer, toolText } from './support/mail-harness.js';

type Listed = { id: string; subject: string; seen: boolean; receivedAt: string };
type ToolResult = Awaited<ReturnType<Client['callTool']>>;
const subjects = (r: ToolResult) => (r.structuredContent as { emails: Listed[] }).emails.map((e) => e.subject);

/** Three mails around a day boundary (UTC), the middle one read. */
const MAILS = [
  { subject: 'Late on the 2nd', receivedAt: '2025-06-02T23:30:00.000Z', seen: false },
  { subject: 'Midnight sharp', receivedAt: '2025-06-03T00:00:00.000Z', seen: true },
  { subject: 'Noon on the 3rd', receivedAt: '2025-06-03T12:00:00.000Z', seen: false },
] as const;

function raw(to: string, subject: string): string {
  return `From: Carol <carol@elsewhere.org>\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: Mon, 02 Jun 2025 08:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@elsewhere.org>\r\n\r\nAbout ${subject}.\r\n`;
}

/** What both backends must answer, the mail being MAILS. */
function filterContract(setup: () => { client: () => Client; address: string }): void {
  const call = (args: Record<string, unknown>, name = 'list_emails') => setup().client().callTool({ name, arguments: { email: setup().address, ...args } });

  it('each mail is received when the test says (the setup worked)', async () => {
    const listed = (await call({})).structuredContent as { emails: Listed[] };
    expect(listed.emails.map((e) => [e.subject, e.receivedAt, e.seen])).toEqual([...MAILS].reverse().map((m) => [m.subject, m.receivedAt, m.seen]));
  });

  it('unread: true is only unread mail, false only mail already read', async () => {
    expect(subjects(await call({ unread: true }))).toEqual(['Noon on the 3rd', 'Late on the 2nd']);
    expect(subjects(await call({ unread: false }))).toEqual(['Midnight sharp']);
    expect(toolText(await call({ unread: true }))).toContain('Emails for');
    expect(toolText(await call({ unread: true }))).toContain('(unread)');
  });

  it('since a date is from 00:00 UTC that day, inclusive; since a date-time is exact, whatever its zone', async () => {
    expect(subjects(await call({ since: '2025-06-03' }))).toEqual(['Noon on the 3rd', 'Midnight sharp']);
    expect(subjects(await call({ since: '2025-06-02' }))).toEqual(['Noon on the 3rd', 'Midnight sharp', 'Late on the 2nd']);
    // 01:00 at +02:00 is 23:00 UTC on the 2nd.
    expect(subjects(await call({ since: '2025-06-03T01:00:00+02:00' }))).toEqual(['Noon on the 3rd', 'Midnight sharp', 'Late on the 2nd']);
    expect(subjects(await call({ since: '2025-06-03T12:00:00Z' }))).toEqual(['Noon on the 3rd']);
    expect(subjects(await call({ since: '2025-06-03T12:00:01Z' }))).toEqual([]);
    expect(toolText(await call({ since: '2025-06-04' }))).toMatch(/since 2025-06-04.*: none\./);
  });

  it('filters combine, with each other, with the limit and with a search', async () => {
    expect(subjects(await call({ unread: true, since: '2025-06-03' }))).toEqual(['Noon on the 3rd']);
    expect(subjects(await call({ unread: true, limit: 1 }))).toEqual(['Noon on the 3rd']);
    expect(subjects(await call({ query: 'about', unread: false }, 'search_emails'))).toEqual(['Midnight sharp']);
    expect(subjects(await call({ query: 'carol', since: '2025-06-03T06:00:00Z' }, 'search_emails'))).toEqual(['Noon on the 3rd']);
    expect(subjects(await call({ query: 'nothing-like-this', unread: true }, 'search_emails'))).toEqual([]);
  });

  it.each([
    ['a word', 'today'],
    ['a day that does not exist', '2025-02-30'],
    ['a date-time without its zone', '2025-06-03T08:00:00'],
    ['an endless fraction', `2025-06-03T08:00:00.${'1'.repeat(100)}Z`],
  ])('refuses since as %s with a tool error naming the format', async (_what, since) => {
    const result = await call({ since });
    expect(result.isError).toBe(true);
    expect(toolText(result)).toMatch(/since/);
    expect(toolText(result)).toMatch(/YYYY-MM-DD/);
  });
}

describe('list and search filters on the local Maildir', () => {
  const CAROL = 'carol@example.com';
  let mail: TestMailServer;
  let client: Client;
  beforeAll(async () => {
    mail = await TestMailServer.start();
    client = await mail.client();
    for (const each of MAILS) await mail.sendSmtp({ from: 'carol@elsewhere.org', to: CAROL, raw: raw(CAROL, each.subject) });
    // Delivery time is the file's mtime (as for every Maildir reader): set it as each mail's.
    const inbox = join(mail.root, CAROL, 'new');
    for (const name of readdirSync(inbox)) {
      const found = MAILS.find((m) => readFileSync(join(inbox, name), 'utf8').includes(`Subject: ${m.subject}\r\n`))!;
      utimesSync(join(inbox, name), new Date(found.receivedAt), new Date(found.receivedAt));
    }
    const listed = (await client.callTool({ name: 'list_emails', arguments: { email: CAROL } })).structuredContent as { emails: Listed[] };
    const read = listed.emails.find((e) => e.subject === 'Midnight sharp')!;
    await client.callTool({ name: 'mark_as_read', arguments: { email: CAROL, email_id: read.id } });
  });
  afterAll(async () => {
    await client?.close();
    await mail?.close();
  });

  filterContract(() => ({ client: () => client, address: CAROL }));
});

describe('list and search filters on an IMAP account (a real Dovecot: SEARCH UNSEEN/SEEN SINCE, then exact)', () => {
  const ALICE = 'alice@example.org';
  const PASSWORD = 'alice-app-password';
  let dovecot: TestDovecot;
  let mail: TestMailServer;
  let client: Client;
  beforeAll(async () => {
    dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD } });
    const direct = new ImapFlow({ host: '127.0.0.1', port: dovecot.port, secure: false, auth: { user: ALICE, pass: PASSWORD }, logger: false });
    direct.on('error', () => undefined);
    await direct.connect();
    try {
      // The internal date is what APPEND says: the server's SINCE only sees its day, the tools the exact time.
      for (const each of MAILS) await direct.append('INBOX', raw(ALICE, each.subject), each.seen ? ['\\Seen'] : [], new Date(each.receivedAt));
    } finally {
      await direct.logout();
    }
    mail = await TestMailServer.start({
      mail: { accounts: [{ user: ALICE, imap_url: `imap://127.0.0.1:${dovecot.port}`, smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`, username: ALICE, password: PASSWORD }] },
    });
    client = await mail.client();
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await mail?.close();
    await dovecot?.close();
  });

  filterContract(() => ({ client: () => client, address: ALICE }));
});
