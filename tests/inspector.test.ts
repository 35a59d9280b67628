import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createActor } from 'xstate';
import { EXPORT_FORMAT, parseExport, type ConversationExportDocument } from '../src/inspector/conversation-export.js';
import { inertActors } from '../src/inspector/inert-actors.js';
import {
  InspectorServerMessageSchema,
  ReplayResponseSchema,
  type InspectorServerMessage,
  type InspectorServerMessageOf,
  type TimelineEntry,
} from '../src/inspector/inspector-protocol.js';
import { InspectorSocket } from '../src/inspector/inspector-socket.js';
import { LiveActors } from '../src/inspector/live-actors.js';
import { replayConversation } from '../src/inspector/replay.js';
import type { RevealAudit } from '../src/inspector/reveal-audit.js';
import { conversationStatechart } from '../src/inspector/statechart.js';
import { createConversationMachine } from '../src/machines/conversation-machine.js';
import type { ServerMessage } from '../src/protocol/protocol.js';
import { TestRuntime, type TestRuntimeOptions } from './support/runtime-harness.js';
import { SchemaSocket } from './support/schema-socket.js';

// Every logger of the runtimes under test writes here (warn and above), so that reveals can be checked in the log.
const logs = vi.hoisted(() => [] as Array<Record<string, unknown>>);
vi.mock('../src/logger.js', async () => {
  const { pino } = await import('pino');
  const { Writable } = await import('node:stream');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { createLogger: (_level: string, name = 'ai-runtime') => pino({ name, level: 'warn' }, sink) };
});

const TOKEN = 'inspector-test-token-of-32-chars!';
const ADMIN = { authorization: `Bearer ${TOKEN}` };

type Of<T extends InspectorServerMessage['type']> = InspectorServerMessageOf<T>;

/** The inspector socket's test client: `SchemaSocket` on the inspector protocol. */
class InspectorClient extends SchemaSocket<InspectorServerMessage> {
  private constructor(socket: WebSocket) {
    super(socket, InspectorServerMessageSchema);
  }

  static connect(rt: TestRuntime): Promise<InspectorClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`${rt.wsUrl.replace(/\/ws$/, '')}/inspector/ws`);
      socket.once('open', () => resolve(new InspectorClient(socket)));
      socket.once('error', reject);
    });
  }

  static async signIn(rt: TestRuntime, operator = 'ops-test'): Promise<InspectorClient> {
    const client = await InspectorClient.connect(rt);
    client.send({ type: 'auth', token: TOKEN, operator });
    await client.next('auth_success');
    return client;
  }
}

const statesOf = (turn: readonly ServerMessage[]) => turn.flatMap((m) => (m.type === 'state' ? [m.state] : []));
const collapse = (states: readonly string[]) => states.filter((s, i) => i === 0 || s !== states[i - 1]);
const conversationOf = (turn: readonly ServerMessage[]) => {
  const first = turn.find((m) => 'conversation_id' in m);
  if (!first || !('conversation_id' in first) || typeof first.conversation_id !== 'string') throw new Error('turn without a conversation');
  return first.conversation_id;
};

async function getJson(rt: TestRuntime, path: string, headers: Record<string, string> = ADMIN): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${rt.httpUrl}${path}`, { headers });
  return { status: response.status, body: await response.json() };
}

async function postJson(rt: TestRuntime, path: string, body: string, headers: Record<string, string> = ADMIN): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${rt.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: response.status, body: await response.json() };
}

async function exportOf(rt: TestRuntime, conversationId: string, query = ''): Promise<ConversationExportDocument> {
  const { status, body } = await getJson(rt, `/api/inspector/conversations/${conversationId}/export${query}`);
  expect(status, JSON.stringify(body)).toBe(200);
  return body as ConversationExportDocument;
}

describe('live actor inspector', () => {
  let rt: TestRuntime | undefined;
  const start = async (options: TestRuntimeOptions = {}) => {
    rt = await TestRuntime.start({ mcp: false, ...options, config: { admin: { token: TOKEN }, ...options.config } });
    return rt;
  };
  afterEach(async () => {
    await rt?.close();
    rt = undefined;
  });

  describe('socket sign-in', () => {
    it('refuses every sign-in with a clear error and closes when no admin token is configured', async () => {
      const rt = await start({ config: { admin: { token: '' } } });
      const client = await InspectorClient.connect(rt);
      client.send({ type: 'auth', token: 'anything' });
      const refused = await client.next('auth_error');
      expect(refused.code).toBe('inspector_disabled');
      expect(refused.message).toContain('[admin] token');
      expect((await client.closed).code).toBe(1008);
    });

    it('refuses a wrong or absent token and closes; answers nothing else before sign-in but keeps the socket', async () => {
      const rt = await start();
      const wrong = await InspectorClient.connect(rt);
      wrong.send({ type: 'auth', token: 'not-the-token' });
      expect(await wrong.next('auth_error')).toMatchObject({ code: 'auth_failed', message: 'Wrong admin token.' });
      expect((await wrong.closed).code).toBe(1008);
      expect(wrong.messages.some((m) => m.type === 'actors')).toBe(false);

      const absent = await InspectorClient.connect(rt);
      absent.send({ type: 'auth' });
      expect(await absent.next('auth_error')).toMatchObject({ code: 'auth_failed' });
      expect((await absent.closed).code).toBe(1008);

      const early = await InspectorClient.connect(rt);
      early.send({ type: 'watch', conversation_id: 'x' });
      expect(await early.next('error')).toMatchObject({ code: 'unauthenticated' });
      early.send({ type: 'auth', token: TOKEN, operator: 'carol' });
      expect(await early.next('auth_success')).toEqual({ type: 'auth_success', operator: 'carol' });
      expect(await early.next('actors')).toEqual({ type: 'actors', actors: [] });
      await early.close();
    });

    it('answers bad JSON, unknown types and bad fields with an error and keeps the socket open', async () => {
      const rt = await start();
      const client = await InspectorClient.signIn(rt);
      client.socket.send('{not json');
      expect(await client.next('error')).toMatchObject({ code: 'invalid_json' });
      client.send({ type: 'explode' });
      const unknown = await client.next('error');
      expect(unknown.code).toBe('unknown_type');
      expect(unknown.message).toContain('"explode"');
      client.send({ type: 'watch' });
      expect((await client.next('error')).message).toContain('conversation_id');
      client.send({ type: 'watch', conversation_id: 'no-such-conversation' });
      expect(await client.next('error')).toMatchObject({ code: 'not_found' });
      client.send({ type: 'ping' });
      await client.next('pong');
      await client.close();
    });
  });

  it('lists live actors and follows one through idle → thinking → streaming → … → idle with its tokens, at most ~10 updates a second', async () => {
    const rt = await start();
    const inspector = await InspectorClient.signIn(rt);
    const user = await rt.client('list@example.com');
    user.send({ type: 'new_conversation' });
    const { conversation_id: id } = await user.next('history');
    const seen = (await inspector.next('actors', (m) => m.actors.some((a) => a.id === id))).actors.find((a) => a.id === id)!;
    expect(seen).toMatchObject({ id, user: 'list@example.com', state: 'idle', tokens: 0, step: 0, history_length: 0, pending_tool: null });

    rt.ollama.enqueue({ tokens: ['one', ' two', ' three', ' four'], headersDelayMs: 300, delayMs: 120 });
    const turn = await user.chat('Count to four', { conversation_id: id });
    expect(turn.at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
    const last = await inspector.next('actors', (m) => m.actors.some((a) => a.id === id && a.state === 'idle' && a.tokens === 4));
    expect(last.actors.find((a) => a.id === id)).toMatchObject({ history_length: 2, tokens: 4 });

    const lists = inspector.messages.filter((m): m is Of<'actors'> => m.type === 'actors');
    const states = collapse(lists.flatMap((m) => m.actors.filter((a) => a.id === id).map((a) => a.state)));
    expect(states.slice(0, 3)).toEqual(['idle', 'thinking', 'streaming']);
    expect(states.at(-1)).toBe('idle');
    // Token counts show up while the answer streams, not only at the end.
    const streamingTokens = lists.flatMap((m) => m.actors.filter((a) => a.id === id && a.state === 'streaming').map((a) => a.tokens));
    expect(streamingTokens.length).toBeGreaterThan(0);

    const listTimes = inspector.messages.flatMap((m, i) => (m.type === 'actors' ? [inspector.receivedAt[i]!] : []));
    // The first list answers the sign-in; the updates after it are coalesced.
    const updates = listTimes.slice(1);
    const gaps = updates.slice(1).map((t, i) => t - updates[i]!);
    expect(gaps.length).toBeGreaterThan(2);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(50);
    await inspector.close();
  });

  it('replays the recent timeline to a late watcher (statechart, llm and tool: child actors with durations), then streams live entries', async () => {
    const rt = await start({ mcp: true });
    rt.ollama.enqueue({ toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 } }] }, { tokens: ['5'] });
    const user = await rt.client('late@example.com');
    const turn = await user.chat('2+3?');
    const id = conversationOf(turn);

    const inspector = await InspectorClient.signIn(rt);
    inspector.send({ type: 'watch', conversation_id: id });
    const watching = await inspector.next('watching');
    expect(watching).toMatchObject({ conversation_id: id, state: 'idle', revealed: false, context: { history_length: 4, step: 1, pending_approval: null } });
    expect(watching.statechart).toEqual(conversationStatechart());
    const keys = (node: typeof watching.statechart): string[] => [node.key, ...node.children.flatMap(keys)];
    expect(keys(watching.statechart)).toEqual(expect.arrayContaining(['idle', 'responding', 'thinking', 'streaming', 'awaiting_approval', 'calling_tool', 'done']));

    const { entries } = await inspector.next('timeline');
    const started = (actor: string | RegExp) => entries.filter((e) => e.kind === 'actor-start' && e.actor !== undefined && e.actor.match(actor));
    const stopped = (actor: string | RegExp) => entries.filter((e) => e.kind === 'actor-stop' && e.actor !== undefined && e.actor.match(actor));
    expect(started('conversation')).toHaveLength(1);
    expect(started(/^persistence$/)).toHaveLength(1);
    expect(started(/^llm$/)).toHaveLength(2);
    expect(stopped(/^llm$/)).toHaveLength(2);
    expect(started(/^tool:call_/)).toHaveLength(1);
    const toolStop = stopped(/^tool:call_/)[0]!;
    expect(toolStop.durationMs).toBeGreaterThanOrEqual(0);
    expect(stopped(/^llm$/).every((e) => typeof e.durationMs === 'number' && e.durationMs >= 0)).toBe(true);
    const events = entries.filter((e) => e.kind === 'event' && e.to === 'conversation').map((e) => e.type);
    expect(events).toEqual(['CHAT', 'LLM.DONE', 'TOOL.RESULT', 'LLM.FIRST_TOKEN', 'LLM.DONE', 'PERSIST.FLUSHED']);
    expect(entries.find((e) => e.kind === 'event' && e.type === 'TOOL.RESULT')).toMatchObject({ from: toolStop.actor, to: 'conversation' });
    const transitions = entries.filter((e) => e.kind === 'transition').map((e) => `${e.from}>${e.to}`);
    expect(transitions).toEqual(['idle>thinking', 'thinking>calling_tool', 'calling_tool>thinking', 'thinking>streaming', 'streaming>done', 'done>idle']);
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => entries[0]!.seq + i));

    rt.ollama.enqueue({ tokens: ['again'] });
    await user.chat('once more');
    const live = await inspector.next('entry', (m) => m.entry.kind === 'transition' && m.entry.to === 'idle');
    const liveEntries = inspector.messages.flatMap((m) => (m.type === 'entry' ? [m.entry] : []));
    expect(liveEntries[0]!.seq).toBe(entries.at(-1)!.seq + 1);
    expect(liveEntries.map((e) => e.type)).toContain('CHAT');
    expect(live.conversation_id).toBe(id);
    expect((await inspector.next('context', (m) => m.state === 'idle')).context.history_length).toBe(6);

    inspector.send({ type: 'unwatch' });
    await inspector.next('unwatched');
    await inspector.close();
  });

  it('redacts bodies, tool arguments and results until an operator reveals the conversation, and logs and records the reveal', async () => {
    const rt = await start({ mcp: true });
    rt.ollama.enqueue({ toolCalls: [{ name: 'get_weather', arguments: { city: 'SECRETVILLE' } }] }, { tokens: ['SECRET', '-ANSWER'] });
    const user = await rt.client('private@example.com');
    const turn = await user.chat('SECRET-QUESTION');
    const id = conversationOf(turn);

    const inspector = await InspectorClient.signIn(rt, 'dana');
    inspector.send({ type: 'watch', conversation_id: id });
    const redacted = await inspector.next('timeline');
    const chat = redacted.entries.find((e) => e.kind === 'event' && e.type === 'CHAT')!;
    expect(chat.detail).toEqual({ text: '[redacted 15 chars]' });
    const done = redacted.entries.find((e) => e.type === 'LLM.DONE' && e.detail !== undefined && Array.isArray(e.detail.toolCalls) && e.detail.toolCalls.length > 0)!;
    expect(done.detail).toMatchObject({ toolCalls: [{ name: 'get_weather', arguments: { city: '[redacted 11 chars]' }, requiresApproval: false }] });
    expect(redacted.entries.find((e) => e.kind === 'event' && e.type === 'TOOL.RESULT')!.detail).toMatchObject({ result: { text: expect.stringMatching(/^\[redacted \d+ chars\]$/), isError: false } });
    expect(inspector.raw.join('\n')).not.toContain('SECRET');
    expect(logs.some((l) => l.msg === 'inspector reveal')).toBe(false);

    inspector.send({ type: 'reveal', conversation_id: id });
    await inspector.next('revealed');
    const revealed = await inspector.next('timeline');
    expect(revealed.revealed).toBe(true);
    const detail = (type: string, entries: TimelineEntry[]) => entries.filter((e) => e.kind === 'event' && e.type === type).map((e) => e.detail);
    expect(detail('CHAT', revealed.entries)).toEqual([{ text: 'SECRET-QUESTION' }]);
    expect(JSON.stringify(detail('TOOL.RESULT', revealed.entries))).toContain('Sunny, 21°C in SECRETVILLE');
    expect(JSON.stringify(detail('LLM.DONE', revealed.entries))).toContain('SECRET-ANSWER');
    expect(logs).toContainEqual(expect.objectContaining({ level: 40, msg: 'inspector reveal', operator: 'dana', conversationId: id }));
    const rows = await rt.runtime.db.selectFrom('inspector_reveals').selectAll().where('conversation_id', '=', id).execute();
    expect(rows).toEqual([expect.objectContaining({ operator: 'dana', via: 'socket' })]);

    // Another inspector, which did not reveal, still gets redacted live entries.
    const other = await InspectorClient.signIn(rt, 'erin');
    other.send({ type: 'watch', conversation_id: id });
    await other.next('timeline');
    rt.ollama.enqueue({ tokens: ['fine'] });
    await user.chat('SECRET-FOLLOWUP');
    expect((await inspector.next('entry', (m) => m.entry.kind === 'event' && m.entry.type === 'CHAT')).entry.detail).toEqual({ text: 'SECRET-FOLLOWUP' });
    expect((await other.next('entry', (m) => m.entry.kind === 'event' && m.entry.type === 'CHAT')).entry.detail).toEqual({ text: '[redacted 15 chars]' });
    expect(other.raw.join('\n')).not.toContain('SECRET');

    // Exports are redacted too, unless asked (and then recorded the same way).
    expect(JSON.stringify(await exportOf(rt, id))).not.toContain('SECRET');
    expect(JSON.stringify(await exportOf(rt, id, '?reveal=1'))).toContain('SECRET-QUESTION');
    const vias = await rt.runtime.db.selectFrom('inspector_reveals').select('via').where('conversation_id', '=', id).orderBy('id').execute();
    expect(vias.map((r) => r.via)).toEqual(['socket', 'export']);
    await Promise.all([inspector.close(), other.close()]);
  });

  it('journals every event the conversation actor receives (start record first, never per token) in storage', async () => {
    const rt = await start();
    rt.ollama.enqueue({ tokens: ['a', 'b', 'c', 'd', 'e', 'f'] });
    const user = await rt.client('journal@example.com');
    const id = conversationOf(await user.chat('Hello journal'));
    const rows = await vi.waitFor(
      async () => {
        const found = await rt.runtime.db.selectFrom('conversation_events').selectAll().where('conversation_id', '=', id).orderBy('seq').execute();
        if (found.length < 5) throw new Error(`only ${found.length} journal rows`);
        return found;
      },
      { timeout: 3_000, interval: 50 },
    );
    expect(rows.map((r) => r.type)).toEqual(['start', 'CHAT', 'LLM.FIRST_TOKEN', 'LLM.DONE', 'PERSIST.FLUSHED']);
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    // The history is not copied into the start record: it is read back from the messages table on export.
    expect(JSON.parse(rows[0]!.payload)).toEqual({ conversationId: id, userEmail: 'journal@example.com', maxToolSteps: 5, messageCount: 0 });
    expect(JSON.parse(rows[1]!.payload)).toEqual({ type: 'CHAT', text: 'Hello journal' });
    expect(JSON.parse(rows[3]!.payload)).toMatchObject({ type: 'LLM.DONE', content: 'abcdef', toolCalls: [] });
  });

  it('an actor restored again and again grows the journal by a bounded amount per restore, whatever the history length', async () => {
    const rt = await start({ config: { server: { max_message_chars: 16_000 } } });
    const user = await rt.client('restored@example.com');
    // A long history: ten turns of about 6 KB each.
    for (let turn = 0; turn < 10; turn++) {
      rt.ollama.enqueue({ tokens: ['ok'] });
      await user.chat(`turn ${turn} ${'x'.repeat(6_000)}`);
    }
    const id = conversationOf(user.messages);
    const journalBytes = async () => {
      const rows = await rt.runtime.db.selectFrom('conversation_events').select(['type', 'payload']).where('conversation_id', '=', id).execute();
      return { starts: rows.filter((r) => r.type === 'start').length, bytes: rows.reduce((sum, r) => sum + r.payload.length, 0) };
    };
    const restore = async (expectedStarts: number) => {
      await rt.runtime.hub.sweepIdle(Date.now() + 3_600_000);
      expect(rt.runtime.hub.size).toBe(0);
      user.send({ type: 'resume', conversation_id: id });
      await user.next('history');
      return vi.waitFor(
        async () => {
          const now = await journalBytes();
          if (now.starts < expectedStarts) throw new Error(`${now.starts} start records`);
          return now;
        },
        { timeout: 3_000, interval: 20 },
      );
    };

    const before = await restore(2);
    const restores = 5;
    let after = before;
    for (let k = 1; k <= restores; k++) after = await restore(2 + k);
    const perRestore = (after.bytes - before.bytes) / restores;
    // The history is 60 KB: a restore that copied it would add that much each time.
    expect(perRestore).toBeLessThan(300);

    // Export and replay still start each actor from the whole history.
    const exported = await exportOf(rt, id, '?reveal=1');
    const starts = exported.records.filter((r) => r.type === 'start');
    expect(starts).toHaveLength(2 + restores);
    expect(starts.map((r) => (r.payload as { messages: unknown[] }).messages.length)).toEqual([0, ...Array<number>(1 + restores).fill(20)]);
    const { status, body } = await postJson(rt, '/api/inspector/replay', JSON.stringify(exported));
    expect(status, JSON.stringify(body)).toBe(200);
    const { steps } = ReplayResponseSchema.parse(body);
    expect(steps.at(-1)!.context).toMatchObject({ history_length: 20 });
  });

  it('exports a tool turn with an approval and replays it into the same state sequence, without calling Ollama or MCP again', async () => {
    const rt = await start({ mcp: true });
    rt.ollama.enqueue({ toolCalls: [{ name: 'delete_note', arguments: { id: 'n-42' } }] }, { tokens: ['Deleted', ' it'] });
    const user = await rt.client('approver@example.com');
    user.send({ type: 'chat', message: 'Delete note n-42' });
    const request = await user.next('approval_required');
    user.send({ type: 'approve', call_id: request.call_id });
    await user.until('done');
    const id = conversationOf(user.messages);
    const liveStates = statesOf(user.messages);
    expect(liveStates).toEqual(['thinking', 'awaiting_approval', 'calling_tool', 'thinking', 'streaming', 'done', 'idle']);

    const exported = await exportOf(rt, id);
    expect(exported).toMatchObject({ format: EXPORT_FORMAT, version: 1, conversation_id: id, redacted: true });
    expect(exported.records.map((r) => r.type)).toEqual(['start', 'CHAT', 'LLM.DONE', 'APPROVE', 'TOOL.RESULT', 'LLM.FIRST_TOKEN', 'LLM.DONE', 'PERSIST.FLUSHED']);

    const ollamaRequests = rt.ollama.requests.length;
    const toolCalls = rt.mcp!.calls.length;
    const { status, body } = await postJson(rt, '/api/inspector/replay', JSON.stringify(exported));
    expect(status, JSON.stringify(body)).toBe(200);
    const { steps } = ReplayResponseSchema.parse(body);
    expect(steps.map((s) => s.index)).toEqual(steps.map((_, i) => i));
    expect(steps.map((s) => s.event)).toEqual(exported.records.map((r) => r.type));
    expect(steps[0]!.state).toBe('idle');
    expect(collapse(steps.map((s) => s.state)).slice(1)).toEqual(liveStates);
    const awaiting = steps.find((s) => s.state === 'awaiting_approval')!;
    expect(awaiting.emitted).toEqual(['tool_call', 'approval_required']);
    expect(awaiting.context.pending_approval).toMatchObject({ call_id: request.call_id, tool: 'delete_note' });
    expect(steps.at(-1)!.context).toMatchObject({ history_length: 4, step: 1, pending_approval: null, outcome: 'complete' });

    // The full-content export replays the same way.
    const full = await exportOf(rt, id, '?reveal=1');
    const again = ReplayResponseSchema.parse((await postJson(rt, '/api/inspector/replay', JSON.stringify(full))).body);
    expect(again.steps.map((s) => s.state)).toEqual(steps.map((s) => s.state));

    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(rt.ollama.requests).toHaveLength(ollamaRequests);
    expect(rt.mcp!.calls).toHaveLength(toolCalls);
  });

  it('exports a conversation restored while waiting for approval and replays it from awaiting_approval, grants kept', async () => {
    const rt = await start({ mcp: true, config: { mcp: { approval: { add: 'required' } } } });
    rt.ollama.enqueue(
      { toolCalls: [{ name: 'delete_note', arguments: { id: 'n-1' } }] },
      { tokens: ['ok'] },
      { toolCalls: [{ name: 'add', arguments: { a: 1, b: 2 } }] },
      { tokens: ['3'] },
    );
    const user = await rt.client('restorer@example.com');
    user.send({ type: 'chat', message: 'Delete n-1' });
    const first = await user.next('approval_required');
    user.send({ type: 'approve', call_id: first.call_id, always: true });
    await user.until('done');
    const id = conversationOf(user.messages);
    user.send({ type: 'chat', message: 'Add 1 and 2', conversation_id: id });
    const pending = await user.next('approval_required');
    await user.next('state', (m) => m.state === 'awaiting_approval');
    await rt.runtime.hub.sweepIdle(Date.now() + 3_600_000);
    expect(rt.runtime.hub.size).toBe(0);
    user.send({ type: 'resume', conversation_id: id });
    expect((await user.next('history')).pending_approval).toMatchObject({ call_id: pending.call_id });
    user.send({ type: 'approve', call_id: pending.call_id });
    await user.until('done');

    for (const query of ['?reveal=1', '']) {
      const exported = await exportOf(rt, id, query);
      const restoredStart = exported.records.filter((r) => r.type === 'start').at(-1)!;
      expect(restoredStart.payload).toMatchObject({ grants: { allowed: [{ server: 'test', tool: 'delete_note' }] }, pendingBatch: [{ id: pending.call_id, name: 'add', decision: 'pending' }] });
      const { status, body } = await postJson(rt, '/api/inspector/replay', JSON.stringify(exported));
      expect(status, JSON.stringify(body)).toBe(200);
      const { steps } = ReplayResponseSchema.parse(body);
      const fromRestore = steps.slice(exported.records.indexOf(restoredStart));
      expect(collapse(fromRestore.map((s) => s.state))).toEqual(['awaiting_approval', 'calling_tool', 'thinking', 'streaming', 'done', 'idle']);
      expect(fromRestore[0]!.context.pending_approval).toMatchObject({ call_id: pending.call_id, tool: 'add' });
    }
  });

  it('answers a malformed replay body with 400 naming the problem', async () => {
    const rt = await start();
    rt.ollama.enqueue({ tokens: ['ok'] });
    const user = await rt.client('malformed@example.com');
    const id = conversationOf(await user.chat('hi'));
    const good = await exportOf(rt, id);

    const notJson = await postJson(rt, '/api/inspector/replay', '{"format":');
    expect(notJson).toMatchObject({ status: 400, body: { status: 'error', message: expect.stringContaining('not JSON') } });

    const wrongFormat = await postJson(rt, '/api/inspector/replay', JSON.stringify({ ...good, format: 'something-else' }));
    expect(wrongFormat.status).toBe(400);
    expect((wrongFormat.body as { message: string }).message).toContain('format');

    const noText = structuredClone(good);
    noText.records[1]!.payload = { type: 'CHAT' };
    const missing = await postJson(rt, '/api/inspector/replay', JSON.stringify(noText));
    expect(missing.status).toBe(400);
    expect((missing.body as { message: string }).message).toContain('records.1.payload.text');

    const headless = { ...good, records: good.records.slice(1) };
    const noStart = await postJson(rt, '/api/inspector/replay', JSON.stringify(headless));
    expect(noStart.status).toBe(400);
    expect((noStart.body as { message: string }).message).toContain('records.0.type: the first record must be "start"');

    const unknownType = structuredClone(good);
    unknownType.records[2]!.type = 'LLM.EXPLODED';
    const unknown = await postJson(rt, '/api/inspector/replay', JSON.stringify(unknownType));
    expect((unknown.body as { message: string }).message).toContain('records.2.type: unknown record type "LLM.EXPLODED"');
  });

  it('keeps the export, replay and reveal-log endpoints for the admin token only', async () => {
    const rt = await start();
    rt.ollama.enqueue({ tokens: ['ok'] });
    const user = await rt.client('guarded@example.com');
    const id = conversationOf(await user.chat('hi'));
    const exportPath = `/api/inspector/conversations/${id}/export`;
    // No or invalid credentials: 401 (a valid user without the admin role gets 403: tests/auth.test.ts).
    const refused: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }];
    for (const headers of refused) {
      expect((await getJson(rt, exportPath, headers)).status).toBe(401);
      expect((await postJson(rt, '/api/inspector/replay', '{}', headers)).status).toBe(401);
      expect((await getJson(rt, '/api/inspector/reveals', headers)).status).toBe(401);
    }
    expect((await getJson(rt, exportPath)).status).toBe(200);
    expect((await getJson(rt, '/api/inspector/reveals')).status).toBe(200);
    expect((await getJson(rt, '/api/inspector/conversations/nope/export')).status).toBe(404);
  });

  describe('Stately forwarding', () => {
    it('forwards inspection events, content redacted, to a Stately inspector socket', async () => {
      const stately = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      await once(stately, 'listening');
      const received: Array<{ type: string; name?: string; event?: { type: string } }> = [];
      const rawFrames: string[] = [];
      stately.on('connection', (socket) =>
        socket.on('message', (data) => {
          rawFrames.push(String(data));
          received.push(JSON.parse(String(data)) as (typeof received)[number]);
        }),
      );
      try {
        const forwarding = await start({ config: { inspector: { stately: true, stately_url: `ws://127.0.0.1:${(stately.address() as AddressInfo).port}` } } });
        forwarding.ollama.enqueue({ tokens: ['TOP', 'SECRET'] });
        const user = await forwarding.client('stately@example.com');
        await user.chat('SECRET-STATELY');
        await vi.waitFor(() => expect(received.some((e) => e.type === '@xstate.event' && e.event?.type === 'PERSIST.FLUSHED')).toBe(true), { timeout: 3_000 });
        expect(received.some((e) => e.type === '@xstate.actor' && e.name?.startsWith('conversation:'))).toBe(true);
        expect(received.some((e) => e.type === '@xstate.actor' && e.name === 'llm')).toBe(true);
        expect(received.some((e) => e.type === '@xstate.snapshot')).toBe(true);
        const chat = received.find((e) => e.type === '@xstate.event' && e.event?.type === 'CHAT');
        expect(chat?.event).toEqual({ type: 'CHAT', text: '[redacted 14 chars]' });
        expect(rawFrames.join('\n')).not.toContain('SECRET');
      } finally {
        await rt?.close();
        rt = undefined;
        stately.close();
      }
    });

    it('neither blocks the runtime nor holds up its shutdown when nothing listens', async () => {
      const placeholder = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      await once(placeholder, 'listening');
      const port = (placeholder.address() as AddressInfo).port;
      await new Promise((resolve) => placeholder.close(resolve));
      const alone = await start({ config: { inspector: { stately: true, stately_url: `ws://127.0.0.1:${port}` } } });
      alone.ollama.enqueue({ tokens: ['still', ' here'] });
      const user = await alone.client('alone@example.com');
      expect((await user.chat('anyone?')).at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
      const before = performance.now();
      await alone.close();
      rt = undefined;
      expect(performance.now() - before).toBeLessThan(2_000);
      expect(logs).toContainEqual(expect.objectContaining({ msg: expect.stringContaining(`nothing listens at ws://127.0.0.1:${port}`) }));
    });
  });
});

describe('replay (pure module)', () => {
  const start = { seq: 1, at: '2025-01-01T00:00:00.000Z', type: 'start', payload: { conversationId: 'c1', userEmail: 'u@example.com', messages: [], maxToolSteps: 5 } };
  const record = (seq: number, payload: { type: string } & Record<string, unknown>) => ({ seq, at: '2025-01-01T00:00:01.000Z', type: payload.type, payload });
  const document = (...records: unknown[]) => ({ format: EXPORT_FORMAT, version: 1, conversation_id: 'c1', records: [start, ...records] });

  it('steps a plain turn and a cancelled one, starting a fresh actor at each start record', () => {
    const steps = replayConversation(
      parseExport(
        document(
          record(2, { type: 'CHAT', text: 'hi' }),
          record(3, { type: 'LLM.FIRST_TOKEN' }),
          record(4, { type: 'LLM.DONE', content: 'hello', toolCalls: [], completionTokens: 1 }),
          record(5, { type: 'PERSIST.FLUSHED' }),
          record(6, { type: 'CHAT', text: 'long one' }),
          record(7, { type: 'CANCEL' }),
          record(8, { type: 'LLM.CANCELLED', partial: 'par' }),
          record(9, { type: 'PERSIST.FLUSHED' }),
          { ...start, seq: 10, payload: { ...start.payload, messages: [{ role: 'user', content: 'hi' }] } },
        ),
      ),
    );
    expect(steps.map((s) => `${s.event}:${s.state}`)).toEqual([
      'start:idle',
      'CHAT:thinking',
      'LLM.FIRST_TOKEN:streaming',
      'LLM.DONE:done',
      'PERSIST.FLUSHED:idle',
      'CHAT:thinking',
      'CANCEL:thinking',
      'LLM.CANCELLED:done',
      'PERSIST.FLUSHED:idle',
      'start:idle',
    ]);
    expect(steps[7]!.context).toMatchObject({ history_length: 4, outcome: 'cancelled' });
    expect(steps[9]!.context.history_length).toBe(1);
  });

  it('refuses an export whose events are out of order or malformed, naming each problem', () => {
    expect(() => parseExport(document(record(5, { type: 'CHAT', text: 'a' }), record(4, { type: 'CANCEL' })))).toThrow(/records\.2\.seq: must be greater/);
    expect(() => parseExport(document(record(2, { type: 'TOOL.RESULT', callId: 'c', result: { text: 1 }, durationMs: 1 })))).toThrow(/records\.1\.payload\.result\.text/);
    expect(() => parseExport({ records: [] })).toThrow(/format/);
  });
});

describe('the no-inspector path', () => {
  it('serializes nothing and sends nothing per event while no inspector socket is signed in', () => {
    const sent: string[] = [];
    const journal: Array<{ type: string }> = [];
    const audit = { record: async () => undefined } as unknown as RevealAudit;
    const socket: InspectorSocket = new InspectorSocket({
      admin: { token: 't' },
      actors: () => actors,
      audit,
      conversationExists: async () => true,
      statechart: conversationStatechart,
      logger: pino({ level: 'silent' }),
    });
    const actors = new LiveActors({ journal: { append: (_id, type) => journal.push({ type }) }, sink: socket });
    const connection = { id: 1, ip: '127.0.0.1', send: (m: string) => sent.push(m), subscribe: () => undefined, unsubscribe: () => undefined, close: () => undefined };
    socket.open(connection);

    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      const observer = actors.observe({ id: 'c1', userEmail: 'u@example.com' });
      const actor = createActor(createConversationMachine(inertActors()), {
        input: { conversationId: 'c1', userEmail: 'u@example.com', messages: [], maxToolSteps: 5 },
        inspect: observer,
      });
      actor.start();
      actor.send({ type: 'CHAT', text: 'hello' });
      actor.send({ type: 'LLM.FIRST_TOKEN' });
      actor.send({ type: 'LLM.DONE', content: 'hi', toolCalls: [], completionTokens: 1 });
      actor.send({ type: 'PERSIST.FLUSHED' });
      expect(stringify).not.toHaveBeenCalled();
      actor.stop();
    } finally {
      stringify.mockRestore();
      socket.shutdown();
    }
    expect(sent).toEqual([]);
    expect(journal.map((j) => j.type)).toEqual(['start', 'CHAT', 'LLM.FIRST_TOKEN', 'LLM.DONE', 'PERSIST.FLUSHED']);
    const record = actors.get('c1')!;
    expect(record.state).toBe('idle');
    expect(record.timeline.size).toBeGreaterThan(10);
  });
});
