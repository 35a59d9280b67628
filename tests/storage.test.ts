import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConversationStore } from '../src/storage/conversation-store.js';
import { migrateToLatest, openSqlite, type Db } from '../src/storage/database.js';

describe('conversation storage (SQLite)', () => {
  let dir: string;
  let db: Db;
  let store: ConversationStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ai-runtime-storage-'));
    db = openSqlite(join(dir, 'nested', 'runtime.db'));
    await migrateToLatest(db);
    store = new ConversationStore(db);
  });
  afterEach(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs SQLite in WAL mode with foreign keys on, creating the folder', async () => {
    const { rows } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
    expect(rows[0]!.journal_mode).toBe('wal');
    const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(db);
    expect(fk.rows[0]!.foreign_keys).toBe(1);
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
    expect(found!.messages).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'add', arguments: { a: 1, b: 2 } }] },
      { role: 'tool', callId: 'call_1', toolName: 'add', arguments: { a: 1, b: 2 }, result: { text: '3', structured: { sum: 3 }, isError: false } },
    ]);
  });

  it('refuses to write the same position twice, leaving the first write intact', async () => {
    await store.create({ id: 'c2', userEmail: 'a@example.com', title: '' });
    await store.append('c2', 0, [{ role: 'user', content: 'first' }], 1);
    await expect(store.append('c2', 0, [{ role: 'user', content: 'second' }], 2)).rejects.toThrow();
    expect((await store.find('c2'))!.messages).toEqual([{ role: 'user', content: 'first' }]);
    expect((await store.find('c2'))!.lastSeq).toBe(1);
  });

  it('lists only the user\'s own conversations', async () => {
    await store.create({ id: 'mine', userEmail: 'a@example.com', title: 'Mine' });
    await store.create({ id: 'theirs', userEmail: 'b@example.com', title: 'Theirs' });
    expect((await store.listForUser('a@example.com')).map((c) => c.id)).toEqual(['mine']);
  });

  it('fails loudly on a stored message that no longer fits the schema', async () => {
    await store.create({ id: 'c3', userEmail: 'a@example.com', title: '' });
    await db.insertInto('messages').values({ conversation_id: 'c3', position: 0, role: 'user', body: '{"role":"user"}', created_at: '' }).execute();
    await expect(store.find('c3')).rejects.toThrow(/c3 message 0 is malformed/);
  });
});
