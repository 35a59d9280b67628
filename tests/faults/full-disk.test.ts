import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ErrorCode, StorageFault, StorageWriteError } from '../../src/errors.js';
import type { ServerMessage } from '../../src/protocol/protocol.js';
import { ConversationStore } from '../../src/storage/conversation-store.js';
import { migrateToLatest, openDatabase } from '../../src/storage/database.js';
import { storageFault } from '../../src/storage/storage-fault.js';
import { FullDisk } from '../support/full-disk.js';
import { TEST_DATABASE_URL, TestSchema, warnPostgresSkipped } from '../support/postgres.js';
import { runtimesClosedAfterEach, type TestRuntime } from '../support/runtime-harness.js';
import type { TestClient } from '../support/ws-client.js';

warnPostgresSkipped();

type Of<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;
const only = <T extends ServerMessage['type']>(messages: readonly ServerMessage[], type: T): Of<T>[] => messages.filter((m): m is Of<T> => m.type === type);
const contentsOf = (history: Of<'history'>) => history.messages.map((m) => ('content' in m ? m.content : `[${m.role}]`));

/** Longer than a page: its row needs a new (overflow) page, which a full database cannot give. */
const LONG_MESSAGE = `Résume ce long fil : ${'blabla '.repeat(900)}`;
/** Generous: the machine is small and shared; every wait ends as soon as its condition holds. */
const DEADLINE_MS = 20_000;

interface HealthBody {
  status: string;
  database: { status: string; message?: string };
}

async function health(rt: TestRuntime): Promise<{ code: number; body: HealthBody }> {
  const response = await fetch(`${rt.httpUrl}/health`);
  return { code: response.status, body: (await response.json()) as HealthBody };
}

/** Polls /health until `accept` holds; fails with the last answer after the deadline. */
async function healthUntil(rt: TestRuntime, accept: (body: HealthBody) => boolean): Promise<HealthBody> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const { body } = await health(rt);
    if (accept(body)) return body;
    if (Date.now() > deadline) throw new Error(`/health never matched; last: ${JSON.stringify(body)}`);
    await sleep(50);
  }
}

async function resumed(rt: TestRuntime, email: string, conversationId: string): Promise<{ client: TestClient; history: Of<'history'> }> {
  const client = await rt.client(email);
  client.send({ type: 'resume', conversation_id: conversationId });
  return { client, history: await client.next('history') };
}

describe('a full disk', { timeout: 60_000 }, () => {
  const runtimes = runtimesClosedAfterEach(() => ({
    mcp: false,
    // Retries and probes every few dozen ms: a test waits on conditions, never on these delays.
    config: { storage: { write_retry_initial_ms: 20, write_retry_max_ms: 100, write_probe_interval_ms: 50 } },
  }));

  it('a chat that would start a conversation gets storage_error naming the disk, and nothing waits', async () => {
    const rt = await runtimes.start();
    const disk = await FullDisk.fill(rt.runtime.db);
    const client = await rt.client('alice@example.com');

    client.send({ type: 'chat', message: 'Bonjour' });
    const error = await client.next('error');
    expect(error).toMatchObject({ code: ErrorCode.StorageError });
    expect(error.message).toMatch(/^disk full: .*nothing was started/);
    expect(error.message).not.toMatch(/rollback|internal/i);
    // No conversation, no turn: the error answered the chat, and the socket goes on.
    expect(error).not.toHaveProperty('conversation_id');
    client.send({ type: 'ping' });
    await client.next('pong');
    expect(client.messages.map((m) => m.type)).toEqual(['auth_success', 'error', 'pong']);
    expect(rt.ollama.requests).toHaveLength(0);

    await disk.free();
    rt.ollama.enqueue({ tokens: ['Me', ' revoilà'] });
    const turn = await client.chat('Bonjour', {}, DEADLINE_MS);
    expect(turn.at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
  });

  it('a turn of an existing conversation ends with done after an error naming the disk, and is saved once space returns', async () => {
    const rt = await runtimes.start();
    const client = await rt.client('bob@example.com');
    rt.ollama.enqueue({ tokens: ['Bonjour', ' Bob'] });
    const first = await client.chat('Salut');
    const conversationId = only(first, 'history')[0]!.conversation_id;

    const disk = await FullDisk.fill(rt.runtime.db);
    rt.ollama.enqueue({ tokens: ['Voici', ' le', ' résumé'] });
    const turn = await client.chat(LONG_MESSAGE, {}, DEADLINE_MS);
    const errors = only(turn, 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: ErrorCode.StorageError, conversation_id: conversationId });
    expect(errors[0]!.message).toMatch(/^disk full: /);
    expect(errors[0]!.message).toMatch(/kept/);
    expect(errors[0]!.message).not.toMatch(/rollback/);
    expect(turn.at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
    expect(turn.indexOf(errors[0]!)).toBeLessThan(turn.length - 1);

    // Meanwhile the conversation's actor keeps the turn, even past its idle time: storage does not have it.
    await rt.runtime.hub.sweepIdle(Date.now() + 24 * 3_600_000);
    const meanwhile = await resumed(rt, 'bob@example.com', conversationId);
    expect(contentsOf(meanwhile.history)).toEqual(['Salut', 'Bonjour Bob', LONG_MESSAGE, 'Voici le résumé']);

    await disk.free();
    await healthUntil(rt, (body) => body.database.status === 'ok');
    await rt.restart();
    const after = await resumed(rt, 'bob@example.com', conversationId);
    expect(after.history.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(contentsOf(after.history)).toEqual(['Salut', 'Bonjour Bob', LONG_MESSAGE, 'Voici le résumé']);
  });

  it('/health says the database is degraded, and why, while the disk is full, and ok once a write succeeds', async () => {
    const rt = await runtimes.start();
    expect((await health(rt)).body.database).toEqual({ status: 'ok' });

    const disk = await FullDisk.fill(rt.runtime.db);
    const degraded = await healthUntil(rt, (body) => body.database.status !== 'ok');
    expect(degraded.database).toMatchObject({ status: 'degraded' });
    expect(degraded.database.message).toMatch(/^disk full/);
    const during = await health(rt);
    expect(during.code).toBe(200);
    expect(during.body.status).toBe('degraded');

    await disk.free();
    const ok = await healthUntil(rt, (body) => body.database.status === 'ok');
    expect(ok.database).toEqual({ status: 'ok' });
  });

  it('past the unsaved-writes bound a turn is lost, the user is told so, and the history keeps a marker in its place', async () => {
    const rt = await runtimes.start({
      mcp: false,
      config: { storage: { write_retry_initial_ms: 20, write_retry_max_ms: 100, write_probe_interval_ms: 50, max_unsaved_bytes_per_conversation: 10_000 } },
    });
    const client = await rt.client('carol@example.com');
    rt.ollama.enqueue({ tokens: ['Oui'] });
    const conversationId = only(await client.chat('Salut'), 'history')[0]!.conversation_id;

    const disk = await FullDisk.fill(rt.runtime.db);
    rt.ollama.enqueue({ tokens: ['Premier'] }, { tokens: ['Second'] });
    const kept = await client.chat(LONG_MESSAGE, {}, DEADLINE_MS);
    expect(only(kept, 'error')[0]!.message).toMatch(/^disk full: .*kept/);
    const lost = await client.chat(`${LONG_MESSAGE} encore`, {}, DEADLINE_MS);
    expect(lost.at(-1)).toMatchObject({ type: 'done' });
    const lostError = only(lost, 'error')[0]!;
    expect(lostError.code).toBe(ErrorCode.StorageError);
    expect(lostError.message).toMatch(/^disk full: .*lost/);

    await disk.free();
    await healthUntil(rt, (body) => body.database.status === 'ok');
    await rt.restart();
    const { history } = await resumed(rt, 'carol@example.com', conversationId);
    const contents = contentsOf(history);
    expect(contents.slice(0, 4)).toEqual(['Salut', 'Oui', LONG_MESSAGE, 'Premier']);
    // The lost turn's place is held (later turns stay in order), its text is gone.
    expect(contents).toHaveLength(6);
    expect(contents.slice(4).every((c) => c.includes('not saved'))).toBe(true);
  });
});

describe('storage faults are named after their cause', () => {
  it('maps SQLite and Postgres error codes to disk full, read-only, I/O and unreachable', () => {
    const sqlite = (code: string) => Object.assign(new Error('x'), { code });
    expect(storageFault(sqlite('SQLITE_FULL'))).toBe(StorageFault.DiskFull);
    expect(storageFault(sqlite('SQLITE_IOERR_WRITE'))).toBe(StorageFault.IoError);
    expect(storageFault(sqlite('SQLITE_IOERR'))).toBe(StorageFault.IoError);
    expect(storageFault(sqlite('SQLITE_READONLY'))).toBe(StorageFault.ReadOnly);
    expect(storageFault(sqlite('SQLITE_READONLY_DBMOVED'))).toBe(StorageFault.ReadOnly);
    expect(storageFault(sqlite('SQLITE_CONSTRAINT_PRIMARYKEY'))).toBe(StorageFault.Other);

    // The shape `pg` gives a server error: a DatabaseError with the SQLSTATE in `code`.
    const pgError = (code: string, message: string) => Object.assign(new pg.DatabaseError(message, message.length, 'error'), { code, severity: 'ERROR' });
    expect(storageFault(pgError('53100', 'could not extend file "base/5/16384": No space left on device'))).toBe(StorageFault.DiskFull);
    expect(storageFault(pgError('25006', 'cannot execute INSERT in a read-only transaction'))).toBe(StorageFault.ReadOnly);
    expect(storageFault(pgError('58030', 'could not write to file'))).toBe(StorageFault.IoError);
    expect(storageFault(pgError('57P01', 'terminating connection due to administrator command'))).toBe(StorageFault.Unreachable);
    expect(storageFault(pgError('23505', 'duplicate key value violates unique constraint'))).toBe(StorageFault.Other);
    expect(storageFault(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe(StorageFault.Unreachable);
  });

  describe.skipIf(!TEST_DATABASE_URL)('on Postgres (DATABASE_URL)', () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it('a write refused by a read-only server is a storage_error that says so', async () => {
      const schema = await TestSchema.create();
      cleanups.push(() => schema.drop());
      const writable = openDatabase(parseConfig({ storage: { database_url: schema.url } }));
      cleanups.push(() => writable.destroy());
      await migrateToLatest(writable);
      const url = new URL(schema.url);
      url.searchParams.set('options', `${url.searchParams.get('options')} -c default_transaction_read_only=on`);
      const readOnly = openDatabase(parseConfig({ storage: { database_url: url.toString() } }));
      cleanups.push(() => readOnly.destroy());

      const refused = await new ConversationStore(readOnly).create({ id: 'c1', userEmail: 'a@example.com', title: '' }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(StorageWriteError);
      expect(refused).toMatchObject({ code: ErrorCode.StorageError, fault: StorageFault.ReadOnly });
      expect((refused as Error).message).toMatch(/^database is read-only: /);
      expect(((refused as Error).cause as { code?: string }).code).toBe('25006');
    });
  });
});
