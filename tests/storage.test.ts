import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { NO_GRANTS } from '../src/conversations/approval-grants.js';
import { InspectorStore } from '../src/inspector/inspector-store.js';
import { ConversationStore } from '../src/storage/conversation-store.js';
import { migrateToLatest, openDatabase, type Db } from '../src/storage/database.js';
import { currentSchema } from '../src/storage/postgres.js';
import { EmailTriageStore } from '../src/storage/email-triage-store.js';
import { SummaryStore, UNTRIAGED, type EmailSummaryRecord } from '../src/storage/summary-store.js';
import { TriageRuleStore } from '../src/storage/triage-rule-store.js';
import { FakeOllama } from './support/fake-ollama.js';
import { TEST_DATABASE_URL, TestSchema, warnPostgresSkipped } from './support/postgres.js';
import { TestRuntime } from './support/runtime-harness.js';

warnPostgresSkipped();

/** A migrated database for one test, and how to throw it away. */
interface Opened {
  db: Db;
  dispose(): Promise<void>;
}

async function openSqliteForTest(): Promise<Opened> {
  const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-storage-'));
  const db = openDatabase(parseConfig({ summarization: { db_path: join(dir, 'nested', 'runtime.db') } }));
  await migrateToLatest(db);
  return {
    db,
    async dispose() {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgresForTest(): Promise<Opened> {
  const schema = await TestSchema.create();
  const db = openDatabase(parseConfig({ storage: { database_url: schema.url } }));
  await migrateToLatest(db);
  return {
    db,
    async dispose() {
      await db.destroy();
      await schema.drop();
    },
  };
}

function summary(n: number, overrides: Partial<EmailSummaryRecord> = {}): EmailSummaryRecord {
  return {
    userEmail: 'a@example.com',
    emailId: `mail-${n}`,
    from: 'boss@example.com',
    subject: `Subject ${n}`,
    summary: `Summary ${n}`,
    model: 'llama3.1:8b',
    createdAt: `2025-01-0${n}T10:00:00.000Z`,
    triage: UNTRIAGED,
    ...overrides,
  };
}

/** The same behaviour on every dialect: these run once on SQLite and, with DATABASE_URL, once on Postgres. */
function storageContract(open: () => Promise<Opened>): void {
  let opened: Opened | undefined;
  let db: Db;
  let store: ConversationStore;
  beforeEach(async () => {
    opened = await open();
    db = opened.db;
    store = new ConversationStore(db);
  });
  // Guarded: when opening failed, that failure is the one to report.
  afterEach(async () => {
    await opened?.dispose();
    opened = undefined;
  });

  it('migrates idempotently', async () => {
    await migrateToLatest(db);
    await migrateToLatest(db);
    expect(await store.listForUser('x@example.com')).toEqual([]);
  });

  it('stores messages in order, with tool calls and results intact, and the last sequence number', async () => {
    await store.create({ id: 'c1', userEmail: 'a@example.com', title: 'Hello' });
    await store.append('c1', 0, [{ role: 'user', content: 'Hi' }], 3);
    await store.append(
      'c1',
      1,
      [
        { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'add', arguments: { a: 1, b: 2 } }] },
        { role: 'tool', callId: 'call_1', toolName: 'add', arguments: { a: 1, b: 2 }, result: { text: '3', structured: { sum: 3 }, isError: false } },
      ],
      9,
    );
    const found = await store.find('c1');
    expect(found).toMatchObject({ id: 'c1', userEmail: 'a@example.com', title: 'Hello', lastSeq: 9 });
    expect(found!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(found!.messages).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'add', arguments: { a: 1, b: 2 } }] },
      { role: 'tool', callId: 'call_1', toolName: 'add', arguments: { a: 1, b: 2 }, result: { text: '3', structured: { sum: 3 }, isError: false } },
    ]);

    await store.saveLastSeq('c1', 12);
    await store.setTitle('c1', 'Renamed');
    expect(await store.find('c1')).toMatchObject({ title: 'Renamed', lastSeq: 12 });
    const raw = await db.selectFrom('conversations').select('last_seq').where('id', '=', 'c1').executeTakeFirstOrThrow();
    expect(raw.last_seq).toBe(12);
  });

  it('keeps decisions with the conversation: grants, each call\'s decision, and a start marker no later decision clears', async () => {
    await store.create({ id: 'd1', userEmail: 'a@example.com', title: '' });
    expect((await store.find('d1'))!.grants).toEqual(NO_GRANTS);
    const step = { role: 'assistant' as const, content: '', toolCalls: [{ id: 'call_a', name: 'send_email', arguments: { to: 'bob@example.com' } }] };
    const call = { id: 'call_a', name: 'send_email', arguments: { to: 'bob@example.com' }, decision: 'pending' as const };
    await store.append('d1', 0, [{ role: 'user', content: 'Écris à Bob' }, step], 2, { calls: [call], grants: NO_GRANTS });
    expect(await store.toolCalls('d1', ['call_a', 'call_unknown'])).toEqual([{ ...call, started: false }]);

    const grants = { allowed: [{ server: 'notes', tool: 'delete_note' }], mailTo: [{ server: 'mail', tool: 'send_email', addresses: ['bob@example.com'] }] };
    await store.append('d1', 2, [], 3, { calls: [{ ...call, decision: 'approved', arguments: { to: 'bob@example.com', cc: 'x@example.com' } }], grants });
    await store.markStarted('d1', 'call_a');
    // A late write of the same call (a stale actor's) changes nothing: not the start marker, not the approved arguments.
    await store.append('d1', 2, [], 4, { calls: [{ ...call, decision: 'approved' }], grants });
    expect(await store.toolCalls('d1', ['call_a'])).toEqual([{ ...call, decision: 'approved', arguments: { to: 'bob@example.com', cc: 'x@example.com' }, started: true }]);
    expect((await store.find('d1'))!.grants).toEqual(grants);
  });

  it('marks a call started once: a second marker, or one for a call whose decision was never saved, changes nothing and says so', async () => {
    await store.create({ id: 'm1', userEmail: 'a@example.com', title: '' });
    const call = { id: 'call_a', name: 'delete_note', arguments: { id: 'n1' }, decision: 'approved' as const };
    await store.append('m1', 0, [{ role: 'user', content: 'go' }], 1, { calls: [call], grants: NO_GRANTS });
    expect(await store.markStarted('m1', 'call_a')).toBe(true);
    // Another node holding the same step (shared storage) gets false: it must not send the call again.
    expect(await store.markStarted('m1', 'call_a')).toBe(false);
    expect(await store.markStarted('m1', 'call_never_saved')).toBe(false);
  });

  it('a rejection on one node cannot be turned into an approval by a stale actor on another, and a call still pending is never marked started', async () => {
    await store.create({ id: 'r1', userEmail: 'a@example.com', title: '' });
    const call = { id: 'call_a', name: 'send_email', arguments: { to: 'eve@example.com' }, decision: 'pending' as const };
    await store.append('r1', 0, [{ role: 'user', content: 'go' }], 1, { calls: [call], grants: NO_GRANTS });
    // Its approval was never saved: the call must not be sent.
    expect(await store.markStarted('r1', 'call_a')).toBe(false);
    await store.append('r1', 1, [], 2, { calls: [{ ...call, decision: 'rejected' }], grants: NO_GRANTS });
    await store.append('r1', 1, [], 3, { calls: [{ ...call, decision: 'approved' }], grants: NO_GRANTS });
    expect(await store.toolCalls('r1', ['call_a'])).toEqual([{ ...call, decision: 'rejected', started: false }]);
    expect(await store.markStarted('r1', 'call_a')).toBe(false);
  });

  it('reads grants stored by name (before they were keyed by server and tool) as none: the user is asked again', async () => {
    await store.create({ id: 'g1', userEmail: 'a@example.com', title: '' });
    await db.updateTable('conversations').set({ approval_grants: JSON.stringify({ tools: ['run'], recipients: { send_email: ['bob@example.com'] } }) }).where('id', '=', 'g1').execute();
    expect((await store.find('g1'))!.grants).toEqual(NO_GRANTS);
  });

  it('refuses to write the same position twice, leaving the first write intact', async () => {
    await store.create({ id: 'c2', userEmail: 'a@example.com', title: '' });
    await store.append('c2', 0, [{ role: 'user', content: 'first' }], 1);
    await expect(store.append('c2', 0, [{ role: 'user', content: 'second' }], 2)).rejects.toThrow();
    expect((await store.find('c2'))!.messages).toEqual([{ role: 'user', content: 'first' }]);
    // The failed append's last_seq update was rolled back with it.
    expect((await store.find('c2'))!.lastSeq).toBe(1);
  });

  it('lists only the user\'s own conversations, newest first', async () => {
    await store.create({ id: 'mine', userEmail: 'a@example.com', title: 'Mine' });
    await store.create({ id: 'theirs', userEmail: 'b@example.com', title: 'Theirs' });
    await store.create({ id: 'later', userEmail: 'a@example.com', title: 'Later' });
    await store.append('later', 0, [{ role: 'user', content: 'newer' }], 1);
    expect((await store.listForUser('a@example.com')).map((c) => c.id)).toEqual(['later', 'mine']);
    expect((await store.listForUser('b@example.com')).map((c) => c.id)).toEqual(['theirs']);
    expect(await store.listForUser('a@example.com', 1)).toHaveLength(1);
  });

  it('fails loudly on a stored message that no longer fits the schema', async () => {
    await store.create({ id: 'c3', userEmail: 'a@example.com', title: '' });
    await db.insertInto('messages').values({ conversation_id: 'c3', position: 0, role: 'user', body: '{"role":"user"}', created_at: '' }).execute();
    await expect(store.find('c3')).rejects.toThrow(/c3 message 0 is malformed/);
  });

  it('stores text with NUL characters the same way (Postgres refuses them in text)', async () => {
    await store.create({ id: 'c4', userEmail: 'a@example.com', title: 'a\u0000b' });
    await store.append('c4', 0, [{ role: 'user', content: 'x\u0000y' }], 1);
    const found = await store.find('c4');
    expect(found!.title).toBe('ab');
    expect(found!.messages).toEqual([{ role: 'user', content: 'x\u0000y' }]);
    const { record } = await new SummaryStore(db).insert(summary(1, { subject: 'S\u0000', summary: '\u0000ok' }));
    expect(record).toMatchObject({ subject: 'S', summary: 'ok' });
  });

  it('inserts a summary once: inserted, then not, keeping the first', async () => {
    const summaries = new SummaryStore(db);
    const first = await summaries.insert(summary(1));
    expect(first).toEqual({ inserted: true, record: summary(1) });
    const again = await summaries.insert(summary(1, { summary: 'a different run', createdAt: '2025-02-01T00:00:00.000Z' }));
    expect(again).toEqual({ inserted: false, record: summary(1) });
    await summaries.insert(summary(2));
    await summaries.insert(summary(3, { userEmail: 'b@example.com' }));
    expect((await summaries.listForUser('a@example.com')).map((s) => s.emailId)).toEqual(['mail-2', 'mail-1']);
    expect(await summaries.find('b@example.com', 'mail-1')).toBeUndefined();
  });

  it('replays unacknowledged summaries oldest first, and never moves the cursor back', async () => {
    const summaries = new SummaryStore(db);
    for (const n of [1, 2, 3]) await summaries.insert(summary(n));
    await summaries.insert(summary(4, { userEmail: 'b@example.com' }));
    const ids = async (limit = 50) => (await summaries.unacknowledged('a@example.com', limit)).map((s) => s.emailId);

    expect(await ids()).toEqual(['mail-1', 'mail-2', 'mail-3']);
    expect(await ids(2)).toEqual(['mail-2', 'mail-3']);
    await summaries.acknowledge('a@example.com', summary(2).createdAt);
    expect(await ids()).toEqual(['mail-3']);
    await summaries.acknowledge('a@example.com', summary(1).createdAt);
    expect(await ids()).toEqual(['mail-3']);
    await summaries.acknowledge('a@example.com', summary(3).createdAt);
    expect(await ids()).toEqual([]);
    expect((await summaries.unacknowledged('b@example.com', 50)).map((s) => s.emailId)).toEqual(['mail-4']);
  });

  it('journals inspector events numbered per conversation across batches, and logs reveals newest first', async () => {
    const inspector = new InspectorStore(db);
    await inspector.appendEvents([
      { conversationId: 'j1', at: Date.UTC(2025, 0, 1), type: 'start', payload: { userEmail: 'a@example.com' } },
      { conversationId: 'j2', at: Date.UTC(2025, 0, 1), type: 'start', payload: null },
      { conversationId: 'j1', at: Date.UTC(2025, 0, 1, 0, 0, 1), type: 'CHAT', payload: { text: 'hi' } },
    ]);
    await inspector.appendEvents([{ conversationId: 'j1', at: Date.UTC(2025, 0, 1, 0, 0, 2), type: 'LLM.DONE', payload: { ok: true } }]);
    expect(await inspector.readEvents('j1')).toEqual([
      { seq: 1, at: '2025-01-01T00:00:00.000Z', type: 'start', payload: { userEmail: 'a@example.com' } },
      { seq: 2, at: '2025-01-01T00:00:01.000Z', type: 'CHAT', payload: { text: 'hi' } },
      { seq: 3, at: '2025-01-01T00:00:02.000Z', type: 'LLM.DONE', payload: { ok: true } },
    ]);
    expect((await inspector.readEvents('j2')).map((e) => e.seq)).toEqual([1]);

    await store.create({ id: 'j1', userEmail: 'a@example.com', title: '' });
    expect(await inspector.conversationExists('j1')).toBe(true);
    expect(await inspector.conversationExists('j2')).toBe(false);
    await inspector.recordReveal({ conversationId: 'j1', operator: 'ops', via: 'socket', at: '2025-01-01T00:00:00.000Z' });
    await inspector.recordReveal({ conversationId: 'j1', operator: 'ops', via: 'export', at: '2025-01-01T00:00:00.000Z' });
    expect((await inspector.listReveals(10)).map((r) => r.via)).toEqual(['export', 'socket']);
    const ids = await db.selectFrom('inspector_reveals').select('id').orderBy('id').execute();
    expect(ids.map((r) => r.id)).toEqual([1, 2]);
  });

  it('keeps each summary\'s triage, filters on it per user, and each user\'s triage rules apart', async () => {
    const summaries = new SummaryStore(db);
    const high = { category: 'work', priority: 'high', needsReply: true, reason: 'the LLM' } as const;
    await summaries.insert(summary(1, { triage: high }));
    await summaries.insert(summary(2, { triage: { category: 'spam', priority: 'low', needsReply: false, reason: 'X-Spam-Flag' } }));
    await summaries.insert(summary(3));
    // Another user's mail under the same id: never theirs to see.
    await summaries.insert(summary(1, { userEmail: 'b@example.com', triage: { ...high, category: 'personal' } }));
    expect((await summaries.find('a@example.com', 'mail-1'))?.triage).toEqual(high);
    expect((await summaries.listForUser('a@example.com', 10, { priority: 'high', needsReply: true })).map((s) => s.emailId)).toEqual(['mail-1']);
    expect((await summaries.listForUser('a@example.com', 10, { category: 'unknown' })).map((s) => s.emailId)).toEqual(['mail-3']);
    const lookup = new EmailTriageStore(db);
    expect([...(await lookup.triageOf('a@example.com', ['mail-1', 'mail-9'])).entries()]).toEqual([['mail-1', { category: 'work', priority: 'high', needs_reply: true }]]);
    expect(await lookup.emailIds('a@example.com', { category: 'spam' }, 10)).toEqual(['mail-2']);
    expect(await lookup.emailIds('b@example.com', { category: 'work' }, 10)).toEqual([]);
    const unspammed = await summaries.setTriage('a@example.com', 'mail-2', { ...UNTRIAGED, reason: 'not spam' });
    expect(unspammed?.triage).toEqual({ ...UNTRIAGED, reason: 'not spam' });

    const rules = new TriageRuleStore(db);
    const boss = await rules.add('a@example.com', { from: 'boss@', priority: 'high' });
    await rules.add('a@example.com', { words: 'Zephyr is work' });
    expect(await rules.notSpam('a@example.com', 'dave@x.example')).toEqual(await rules.notSpam('a@example.com', 'dave@x.example'));
    expect((await rules.list('a@example.com')).map((r) => r.from ?? r.words)).toEqual(['boss@', 'Zephyr is work', 'dave@x.example']);
    expect(await rules.list('b@example.com')).toEqual([]);
    expect(await rules.remove('b@example.com', boss.id)).toBe(false);
    expect(await rules.remove('a@example.com', boss.id)).toBe(true);
    expect(await rules.list('a@example.com')).toHaveLength(2);
  });
}

describe('storage (SQLite)', () => {
  storageContract(openSqliteForTest);

  it('runs SQLite in WAL mode with foreign keys on, creating the folder', async () => {
    const { db, dispose } = await openSqliteForTest();
    try {
      const { rows } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
      expect(rows[0]!.journal_mode).toBe('wal');
      const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(db);
      expect(fk.rows[0]!.foreign_keys).toBe(1);
    } finally {
      await dispose();
    }
  });
});

describe.skipIf(!TEST_DATABASE_URL)('storage (Postgres, DATABASE_URL)', () => {
  storageContract(openPostgresForTest);

  it('migrates safely when several nodes start at once', async () => {
    const schema = await TestSchema.create();
    const nodes = [0, 1, 2].map(() => openDatabase(parseConfig({ storage: { database_url: schema.url } })));
    try {
      await Promise.all(nodes.map((db) => migrateToLatest(db)));
      const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(nodes[0]!);
      expect(rows.map((m) => m.name).sort()).toEqual(['0001-conversations', '0002-summaries', '0003-inspector', '0004-tool-decisions', '0005-health-probe', '0006-context-summaries', '0007-triage']);
      await new ConversationStore(nodes[1]!).create({ id: 'c', userEmail: 'a@example.com', title: '' });
      expect(await new ConversationStore(nodes[2]!).find('c')).toMatchObject({ id: 'c', lastSeq: 0 });
    } finally {
      await Promise.all(nodes.map((db) => db.destroy()));
      await schema.drop();
    }
  });

  it('migrates while other sessions drop their schemas (Kysely\'s own introspector looks every schema up by name, and failed now and then)', async () => {
    const churner = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await churner.connect();
    let churning = true;
    let dropped = 0;
    const churn = (async () => {
      while (churning) {
        const name = `ai_runtime_test_churn_${randomBytes(6).toString('hex')}`;
        await churner.query(`create schema "${name}"; create table "${name}".t (id int primary key, v text default 'x'); create index on "${name}".t (v)`);
        await churner.query(`drop schema "${name}" cascade`);
        dropped += 1;
      }
    })();
    try {
      // Each migration lists the catalog a few times; over 8 of them, a listing meets a drop more often than not.
      for (let i = 0; i < 8; i++) {
        const schema = await TestSchema.create();
        const db = openDatabase(parseConfig({ storage: { database_url: schema.url } }));
        try {
          await migrateToLatest(db);
          await new ConversationStore(db).create({ id: `c${i}`, userEmail: 'a@example.com', title: '' });
        } finally {
          await db.destroy();
          await schema.drop();
        }
      }
      expect(dropped).toBeGreaterThan(8);
    } finally {
      churning = false;
      await churn;
      await churner.end();
    }
  });

  it('introspects the current schema only, with the columns Kysely\'s own introspector gives', async () => {
    const [ours, other] = [await TestSchema.create(), await TestSchema.create()];
    const a = openDatabase(parseConfig({ storage: { database_url: ours.url } }));
    const b = openDatabase(parseConfig({ storage: { database_url: other.url } }));
    try {
      await migrateToLatest(a);
      await sql`create table only_in_other (n serial primary key, note text default 'x')`.execute(b);
      await sql`comment on column only_in_other.note is 'why'`.execute(b);
      const [ourTables, otherTables] = [await a.introspection.getTables(), await b.introspection.getTables()];
      expect(ourTables.map((t) => t.name)).toContain('conversations');
      expect(ourTables.map((t) => t.name)).not.toContain('kysely_migration');
      expect(new Set(ourTables.map((t) => t.schema))).toEqual(new Set([await currentSchema(a)]));
      expect(otherTables).toEqual([
        {
          name: 'only_in_other', schema: await currentSchema(b), isView: false,
          columns: [
            { name: 'n', dataType: 'int4', dataTypeSchema: 'pg_catalog', isAutoIncrementing: true, isNullable: false, hasDefaultValue: true },
            { name: 'note', dataType: 'text', dataTypeSchema: 'pg_catalog', isAutoIncrementing: false, isNullable: true, hasDefaultValue: true, comment: 'why' },
          ],
        },
      ]);
      expect((await a.introspection.getTables({ withInternalKyselyTables: true })).map((t) => t.name)).toContain('kysely_migration');
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
      await Promise.all([ours.drop(), other.drop()]);
    }
  });

  it('keeps each schema\'s tables apart (another schema\'s migration table is not taken for ours)', async () => {
    const [first, second] = [await TestSchema.create(), await TestSchema.create()];
    const a = openDatabase(parseConfig({ storage: { database_url: first.url } }));
    const b = openDatabase(parseConfig({ storage: { database_url: second.url } }));
    try {
      await migrateToLatest(a);
      await migrateToLatest(b);
      await new ConversationStore(a).create({ id: 'only-in-a', userEmail: 'a@example.com', title: '' });
      expect(await new ConversationStore(b).find('only-in-a')).toBeUndefined();
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
      await Promise.all([first.drop(), second.drop()]);
    }
  });

  it('closes safely twice', async () => {
    const { db, dispose } = await openPostgresForTest();
    await dispose();
    await expect(db.destroy()).resolves.toBeUndefined();
  });

  describe('two runtime nodes on one database', () => {
    let schema: TestSchema | undefined;
    let ollama: FakeOllama | undefined;
    let nodes: TestRuntime[] = [];
    beforeEach(async () => {
      schema = await TestSchema.create();
      ollama = await FakeOllama.start();
      const options = { mcp: false, ollama, config: { storage: { database_url: schema.url } } };
      // Started together: both migrate the empty schema at the same moment.
      nodes = await Promise.all([TestRuntime.start(options), TestRuntime.start(options)]);
    });
    afterEach(async () => {
      await Promise.all(nodes.map((node) => node.close()));
      nodes = [];
      await ollama?.close();
      await schema?.drop();
    });

    it('continues on node B a conversation begun on node A, with its whole history', async () => {
      const [a, b] = nodes as [TestRuntime, TestRuntime];
      const llm = ollama!;
      llm.enqueue({ tokens: ['Première', ' réponse'] }, { tokens: ['Suite'] });
      const onA = await a.client('leo@example.com');
      const turn = await onA.chat('Premier message');
      const history = turn.find((m) => m.type === 'history');
      if (history?.type !== 'history') throw new Error('no history message');
      const id = history.conversation_id;
      await onA.close();
      // The answer is written once complete; B can only see it after that.
      const onBStore = new ConversationStore(b.runtime.db);
      await vi.waitFor(async () => expect((await onBStore.find(id))?.messages).toHaveLength(2), { timeout: 5_000 });

      const onB = await b.client('leo@example.com');
      onB.send({ type: 'resume', conversation_id: id });
      const resumed = await onB.next('history');
      expect(resumed.conversation_id).toBe(id);
      expect(resumed.messages).toEqual([
        { role: 'user', content: 'Premier message' },
        { role: 'assistant', content: 'Première réponse' },
      ]);
      await onB.chat('Deuxième');
      expect(llm.requests).toHaveLength(2);
      expect(llm.requests[1]!.body.messages!.slice(1)).toEqual([
        { role: 'user', content: 'Premier message' },
        { role: 'assistant', content: 'Première réponse' },
        { role: 'user', content: 'Deuxième' },
      ]);
      await onB.close();

      const onAStore = new ConversationStore(a.runtime.db);
      await vi.waitFor(async () => expect((await onAStore.find(id))?.messages).toHaveLength(4), { timeout: 5_000 });
      expect((await onAStore.listForUser('leo@example.com')).map((c) => c.id)).toEqual([id]);
      const health = (await (await fetch(`${b.httpUrl}/health`)).json()) as { database: { status: string } };
      expect(health.database.status).toBe('ok');
    });

    it('moves a user A → B → A: the node that still holds a stale live actor reloads it instead of overwriting', async () => {
      const [a, b] = nodes as [TestRuntime, TestRuntime];
      const llm = ollama!;
      llm.enqueue({ tokens: ['Un'] }, { tokens: ['Deux'] }, { tokens: ['Trois'] });
      const onA = await a.client('mia@example.com');
      const first = await onA.chat('premier');
      const id = first.find((m) => m.type === 'history')!.conversation_id;
      // Node A keeps its actor live (idle) while the user goes on on node B.
      const onB = await b.client('mia@example.com');
      onB.send({ type: 'resume', conversation_id: id });
      await onB.next('history');
      await onB.chat('deuxième');

      const third = await onA.chat('troisième', { conversation_id: id });
      expect(third.filter((m) => m.type === 'error')).toEqual([]);
      expect(third.at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
      expect(llm.requests[2]!.body.messages!.slice(1).map((m) => m.content)).toEqual(['premier', 'Un', 'deuxième', 'Deux', 'troisième']);
      const store = new ConversationStore(a.runtime.db);
      await vi.waitFor(async () => expect((await store.find(id))?.messages.map((m) => ('content' in m ? m.content : m.role))).toEqual(['premier', 'Un', 'deuxième', 'Deux', 'troisième', 'Trois']), { timeout: 5_000 });
      // Event numbers never go back: A's events continue after B's.
      const seqs = third.flatMap((m) => (m.type === 'chunk' ? [m.seq] : []));
      const bLast = Math.max(...onB.messages.flatMap((m) => ('seq' in m && typeof m.seq === 'number' ? [m.seq] : [])));
      expect(Math.min(...seqs)).toBeGreaterThan(bLast);
    });
  });
});
