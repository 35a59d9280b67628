import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { maildirMailboxes } from '../src/mail/maildir-mailbox.js';
import { MaildirStore } from '../src/mail/maildir/index.js';
import { createMailMcpServer } from '../src/mail/mail-tools.js';
import { OutgoingMail } from '../src/mail/outgoing-mail.js';
import { migrateToLatest, openDatabase, type Db } from '../src/storage/database.js';
import { SummaryStore, UNTRIAGED } from '../src/storage/summary-store.js';
import type { WireTriage } from '../src/triage/triage.js';
import { TestDovecot } from './support/dovecot.js';
import { TestMailServer, toolText } from './support/mail-harness.js';
import { TEST_DATABASE_URL, TestSchema, warnPostgresSkipped } from './support/postgres.js';

warnPostgresSkipped();

const ALICE = 'alice@example.org';
const BOB = 'bob@example.com';
const PASSWORD = 'alice-app-password';

type Listed = { id: string; subject: string; category?: string; priority?: string; needs_reply?: boolean | null };
type ToolResult = Awaited<ReturnType<Client['callTool']>>;
const emails = (r: ToolResult) => (r.structuredContent as { emails: Listed[] }).emails;
const subjects = (r: ToolResult) => emails(r).map((e) => e.subject);

/**
 * Alice's mail, oldest first, an hour apart from 08:00 UTC on 3 June 2025, and the triage the runtime stored for it
 * (none: not summarized yet; `unknown`: summarized before triage existed). "Lunch on Friday" has been read.
 */
const ALICE_MAIL: Array<{ subject: string; triage?: WireTriage; seen?: boolean }> = [
  { subject: 'Contract renewal', triage: { category: 'work', priority: 'high', needs_reply: true } },
  { subject: 'Weekly digest', triage: { category: 'newsletter', priority: 'low', needs_reply: false } },
  { subject: 'Card statement', triage: { category: 'finance', priority: 'normal', needs_reply: null } },
  { subject: 'Lunch on Friday', triage: { category: 'personal', priority: 'high', needs_reply: true }, seen: true },
  { subject: 'Not summarized yet' },
  { subject: 'Summarized before triage', triage: { category: 'unknown', priority: 'unknown', needs_reply: null } },
];
const receivedAt = (index: number) => new Date(Date.UTC(2025, 5, 3, 8 + index));

function raw(to: string, subject: string): string {
  return `From: Carol <carol@elsewhere.org>\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: Tue, 03 Jun 2025 07:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@elsewhere.org>\r\n\r\nAbout ${subject}.\r\n`;
}

/** The runtime's database, as a test shares it with the mail server. */
interface SharedDb {
  database: { db_path?: string; database_url?: string };
  db: Db;
  dispose(): Promise<void>;
}

async function sqliteDb(): Promise<SharedDb> {
  const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-triage-'));
  const db_path = join(dir, 'runtime.db');
  const db = openDatabase(parseConfig({ summarization: { db_path } }));
  await migrateToLatest(db);
  return {
    database: { db_path },
    db,
    async dispose() {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresDb(): Promise<SharedDb> {
  const schema = await TestSchema.create();
  const db = openDatabase(parseConfig({ storage: { database_url: schema.url } }));
  await migrateToLatest(db);
  return {
    database: { database_url: schema.url },
    db,
    async dispose() {
      await db.destroy();
      await schema.drop();
    },
  };
}

let summarizedAt = Date.UTC(2025, 5, 3, 12);

/** What the runtime's summary worker writes: the summary row with its triage (`default`: one stored untriaged). */
async function storeTriage(db: Db, user: string, emailId: string, triage: WireTriage | 'default'): Promise<void> {
  summarizedAt += 1_000;
  const stored = triage === 'default' ? UNTRIAGED : { category: triage.category, priority: triage.priority, needsReply: triage.needs_reply, reason: 'test' };
  await new SummaryStore(db).insert({ userEmail: user, emailId, from: 'Carol', subject: 's', summary: 'A summary.', model: 'test', createdAt: new Date(summarizedAt).toISOString(), triage: stored });
}

/** A running mail server holding ALICE_MAIL for `alice` and one mail for Bob (always on the local Maildir). */
interface Backend {
  alice: string;
  client: Client;
  close(): Promise<void>;
}

async function maildirBackend(database: SharedDb['database']): Promise<Backend> {
  const alice = 'alice@example.com';
  const mail = await TestMailServer.start({ database });
  for (const each of ALICE_MAIL) await mail.sendSmtp({ from: 'carol@elsewhere.org', to: alice, raw: raw(alice, each.subject) });
  // Delivery time is the file's mtime: set, so that "newest first" and `since` do not hang on the clock's resolution.
  const inbox = join(mail.root, alice, 'new');
  for (const name of readdirSync(inbox)) {
    const index = ALICE_MAIL.findIndex((m) => readFileSync(join(inbox, name), 'utf8').includes(`Subject: ${m.subject}\r\n`));
    utimesSync(join(inbox, name), receivedAt(index), receivedAt(index));
  }
  await mail.sendSmtp({ from: 'bank@example.com', to: BOB, raw: raw(BOB, "Bob's statement") });
  const client = await mail.client();
  return { alice, client, close: async () => (await client.close(), await mail.close()) };
}

async function imapBackend(database: SharedDb['database']): Promise<Backend> {
  const dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD } });
  try {
    const direct = new ImapFlow({ host: '127.0.0.1', port: dovecot.port, secure: false, auth: { user: ALICE, pass: PASSWORD }, logger: false });
    direct.on('error', () => undefined);
    await direct.connect();
    try {
      for (const [index, each] of ALICE_MAIL.entries()) await direct.append('INBOX', raw(ALICE, each.subject), [], receivedAt(index));
    } finally {
      await direct.logout();
    }
    const mail = await TestMailServer.start({
      database,
      mail: { accounts: [{ user: ALICE, imap_url: `imap://127.0.0.1:${dovecot.port}`, smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`, username: ALICE, password: PASSWORD }] },
    });
    await mail.sendSmtp({ from: 'bank@example.com', to: BOB, raw: raw(BOB, "Bob's statement") });
    const client = await mail.client();
    return { alice: ALICE, client, close: async () => (await client.close(), await mail.close(), await dovecot.close()) };
  } catch (error) {
    await dovecot.close();
    throw error;
  }
}

const DATABASES: Array<[string, () => Promise<SharedDb>]> = [['SQLite', sqliteDb], ...(TEST_DATABASE_URL ? [['Postgres', postgresDb] as [string, () => Promise<SharedDb>]] : [])];
const BACKENDS: Array<[string, (database: SharedDb['database']) => Promise<Backend>]> = [
  ['the local Maildir', maildirBackend],
  ['an IMAP account (a real Dovecot)', imapBackend],
];

describe.each(DATABASES)('triage in list_emails and search_emails (%s)', (_dbName, openDb) => {
  describe.each(BACKENDS)('on %s', (_backendName, startBackend) => {
    let shared: SharedDb;
    let backend: Backend;
    let ids: Map<string, string>;
    const call = (args: Record<string, unknown>, name = 'list_emails', email = backend.alice) => backend.client.callTool({ name, arguments: { email, ...args } });

    beforeAll(async () => {
      shared = await openDb();
      backend = await startBackend(shared.database);
      ids = new Map(emails(await call({})).map((e) => [e.subject, e.id]));
      await call({ email_id: ids.get('Lunch on Friday') }, 'mark_as_read');
      for (const each of ALICE_MAIL) if (each.triage) await storeTriage(shared.db, backend.alice, ids.get(each.subject)!, each.triage.category === 'unknown' ? 'default' : each.triage);
      const bobId = emails(await call({}, 'list_emails', BOB))[0]!.id;
      await storeTriage(shared.db, BOB, bobId, { category: 'finance', priority: 'high', needs_reply: false });
      // Bob's rows naming Alice's ids (the same ids can exist in two mailboxes): never Alice's triage, never her mail.
      for (const id of ids.values()) await storeTriage(shared.db, BOB, id, { category: 'spam', priority: 'high', needs_reply: false });
      // …and Alice's naming Bob's mail, and mail long gone or renumbered: nothing to list.
      await storeTriage(shared.db, backend.alice, bobId, { category: 'finance', priority: 'high', needs_reply: true });
      await storeTriage(shared.db, backend.alice, '1700000000.M1P1Q1.gone', { category: 'work', priority: 'high', needs_reply: true });
      const someImapId = [...ids.values()][0]!.replace(/^INBOX\.(\d+)\./, (_m, v: string) => `INBOX.${Number(v) + 1}.`);
      await storeTriage(shared.db, backend.alice, someImapId.startsWith('INBOX.') ? someImapId : 'INBOX.1.1', { category: 'work', priority: 'high', needs_reply: true });
    }, 60_000);
    afterAll(async () => {
      await backend?.close();
      await shared?.dispose();
    });

    it('every listed email carries its stored triage, in the structured result and in the text', async () => {
      const result = await call({});
      const bySubject = new Map(emails(result).map((e) => [e.subject, e]));
      for (const each of ALICE_MAIL) {
        const listed = bySubject.get(each.subject)!;
        if (each.triage) expect({ category: listed.category, priority: listed.priority, needs_reply: listed.needs_reply }, each.subject).toEqual(each.triage);
        else for (const field of ['category', 'priority', 'needs_reply']) expect(listed, each.subject).not.toHaveProperty(field);
      }
      const text = toolText(result);
      expect(text).toContain('[unread] [high · work · needs reply] From: Carol');
      expect(text).toMatch(/\d\. \[high · personal · needs reply\] From: Carol <carol@elsewhere\.org> \| Subject: Lunch on Friday/);
      expect(text).toContain('[unread] [normal · finance] From: Carol <carol@elsewhere.org> | Subject: Card statement');
      expect(text).toContain('[unread] From: Carol <carol@elsewhere.org> | Subject: Not summarized yet');
      expect(text).toContain('[unread] From: Carol <carol@elsewhere.org> | Subject: Summarized before triage');
      const found = emails(await call({ query: 'digest' }, 'search_emails'));
      expect(found).toEqual([expect.objectContaining({ subject: 'Weekly digest', category: 'newsletter', priority: 'low', needs_reply: false })]);
    });

    it('category and priority filter on the stored triage, newest first, with each other and with unread, since and limit', async () => {
      expect(subjects(await call({ priority: 'high' }))).toEqual(['Lunch on Friday', 'Contract renewal']);
      expect(subjects(await call({ category: 'newsletter' }))).toEqual(['Weekly digest']);
      expect(subjects(await call({ category: 'work', priority: 'high' }))).toEqual(['Contract renewal']);
      expect(subjects(await call({ priority: 'high', unread: true }))).toEqual(['Contract renewal']);
      // "What is important today?", on a day when Lunch (11:00) is new and the contract (08:00) is not.
      expect(subjects(await call({ priority: 'high', since: '2025-06-03T10:30:00Z' }))).toEqual(['Lunch on Friday']);
      expect(subjects(await call({ priority: 'high', limit: 1 }))).toEqual(['Lunch on Friday']);
      const none = await call({ category: 'work', priority: 'low' });
      expect(none.isError).toBeFalsy();
      expect(toolText(none)).toMatch(/priority low, category work.*: none\./);
    });

    it('search_emails takes the same filters', async () => {
      expect(subjects(await call({ query: 'carol', priority: 'high' }, 'search_emails'))).toEqual(['Lunch on Friday', 'Contract renewal']);
      expect(subjects(await call({ query: 'about', category: 'finance' }, 'search_emails'))).toEqual(['Card statement']);
      expect(subjects(await call({ query: 'lunch', priority: 'high', unread: true }, 'search_emails'))).toEqual([]);
    });

    it('a user never gets another user\'s triage or mail, though rows of both name the same email ids', async () => {
      // Bob's rows call all of Alice's mail high-priority spam: Alice sees her own triage only.
      expect(subjects(await call({ category: 'spam' }))).toEqual([]);
      expect(emails(await call({ query: 'digest' }, 'search_emails'))[0]).toMatchObject({ category: 'newsletter', priority: 'low' });
      // Alice's row naming Bob's mail does not bring it into her list.
      expect(subjects(await call({ category: 'finance' }))).toEqual(['Card statement']);
      // Bob's rows naming Alice's ids do not bring her mail into his.
      expect(subjects(await call({ priority: 'high' }, 'list_emails', BOB))).toEqual(["Bob's statement"]);
      expect(subjects(await call({ category: 'spam' }, 'list_emails', BOB))).toEqual([]);
      expect(emails(await call({}, 'list_emails', BOB))).toEqual([expect.objectContaining({ subject: "Bob's statement", category: 'finance', priority: 'high', needs_reply: false })]);
    });

    it('refuses a category or priority that does not exist', async () => {
      for (const args of [{ category: 'urgent' }, { priority: 'urgent' }, { category: 'unknown' }]) {
        const result = await call(args);
        expect(result.isError, JSON.stringify(args)).toBe(true);
      }
    });
  });
});

describe('a tool server built without a database', () => {
  let dir: string;
  let client: Client;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ai-runtime-no-triage-'));
    const store = new MaildirStore({ root: dir, localDomains: ['example.com'] });
    await store.deliver('dave@example.com', Buffer.from(raw('dave@example.com', 'Plain mail')));
    const server = createMailMcpServer({ mailboxes: maildirMailboxes(store, new OutgoingMail(store, undefined)) });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    client = new Client({ name: 'test', version: '1.0.0' });
    await Promise.all([server.connect(serverSide), client.connect(clientSide)]);
  });
  afterAll(async () => {
    await client?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('tells the LLM what the items carry and how to ask "what is important today?" in one call', async () => {
    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    for (const name of ['list_emails', 'search_emails']) {
      expect(byName[name]!.description).toMatch(/category, priority/);
      expect(byName[name]!.description).toMatch(/reply/);
      const properties = byName[name]!.inputSchema.properties as Record<string, { enum?: string[] }>;
      expect(properties['category']!.enum).toEqual(['personal', 'work', 'newsletter', 'notification', 'finance', 'spam']);
      expect(properties['priority']!.enum).toEqual(['high', 'normal', 'low']);
    }
    expect(byName['list_emails']!.description).toContain('{priority: "high", since: "<today\'s date>"}');
  });

  it('lists without triage fields, and answers category and priority filters with a tool error saying why', async () => {
    const listed = await client.callTool({ name: 'list_emails', arguments: { email: 'dave@example.com' } });
    expect(emails(listed)).toHaveLength(1);
    expect(emails(listed)[0]).not.toHaveProperty('category');
    expect(subjects(await client.callTool({ name: 'list_emails', arguments: { email: 'dave@example.com', unread: true } }))).toEqual(['Plain mail']);
    for (const [name, args] of [
      ['list_emails', { priority: 'high' }],
      ['search_emails', { query: 'plain', category: 'work' }],
    ] as const) {
      const refused = await client.callTool({ name, arguments: { email: 'dave@example.com', ...args } });
      expect(refused.isError).toBe(true);
      expect(toolText(refused)).toMatch(/category or priority.*no database/);
    }
  });
});
