import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { TestRuntime } from './support/runtime-harness.js';
import { textOf } from './support/ws-client.js';

describe('WebSocket protocol', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await TestRuntime.start({ mcp: false, config: { server: { max_payload_bytes: 4096, max_message_chars: 100 } } });
  });
  afterAll(() => rt.close());

  it('authenticates with an email (test_websocket_authentication)', async () => {
    const client = await rt.client();
    client.send({ type: 'auth', email: 'Admin@Delfour.co' });
    expect(await client.next('auth_success')).toEqual({ type: 'auth_success', email: 'admin@delfour.co' });
    await client.close();
  });

  it('refuses an invalid email with auth_error and keeps the socket', async () => {
    const client = await rt.client();
    client.send({ type: 'auth', email: 'not an email' });
    const error = await client.next('auth_error');
    expect(error.code).toBe(ErrorCode.AuthFailed);
    expect(error.message).toContain('not an email');
    await client.auth('ok@example.com');
    await client.close();
  });

  it('rejects chat before auth with an error, not a closed socket (test_websocket_unauthenticated_chat)', async () => {
    const client = await rt.client();
    client.send({ type: 'chat', message: 'hello' });
    const error = await client.next('error');
    expect(error.code).toBe(ErrorCode.Unauthenticated);
    expect(error.message).toMatch(/auth/);
    expect(rt.ollama.requests).toHaveLength(0);
    await client.auth('late@example.com');
    const turn = await client.chat('hello');
    expect(textOf(turn)).toBe('Hello from fake Ollama');
    await client.close();
  });

  it('answers malformed JSON with invalid_json and stays usable (test_websocket_invalid_json)', async () => {
    const client = await rt.client('json@example.com');
    client.sendRaw('{"type": "chat", "message": ');
    expect((await client.next('error')).code).toBe(ErrorCode.InvalidJson);
    client.send({ type: 'ping' });
    await client.next('pong');
    await client.close();
  });

  it.each([
    ['an unknown type', { type: 'launch_missiles' }, ErrorCode.UnknownType, 'launch_missiles'],
    ['a missing type', { message: 'hi' }, ErrorCode.InvalidMessage, '"type"'],
    ['a non-object', [1, 2], ErrorCode.InvalidMessage, 'JSON object'],
    ['a chat without message', { type: 'chat' }, ErrorCode.InvalidMessage, 'message'],
    ['a chat with an empty message', { type: 'chat', message: '' }, ErrorCode.InvalidMessage, 'empty'],
    ['a resume without conversation_id', { type: 'resume' }, ErrorCode.InvalidMessage, 'conversation_id'],
    ['an approve with a numeric call_id', { type: 'approve', call_id: 7 }, ErrorCode.InvalidMessage, 'call_id'],
    ['a resume with a negative last_seq', { type: 'resume', conversation_id: 'x', last_seq: -1 }, ErrorCode.InvalidMessage, 'last_seq'],
  ])('answers %s with an error naming the problem', async (_name, message, code, mentions) => {
    const client = await rt.client('bad-input@example.com');
    client.send(message);
    const error = await client.next('error');
    expect(error.code).toBe(code);
    expect(error.message).toContain(mentions);
    client.send({ type: 'ping' });
    await client.next('pong');
    await client.close();
  });

  it('refuses a chat message over max_message_chars without closing', async () => {
    const client = await rt.client('long@example.com');
    client.send({ type: 'chat', message: 'x'.repeat(101) });
    const error = await client.next('error');
    expect(error.code).toBe(ErrorCode.MessageTooLong);
    expect(error.message).toContain('100');
    client.send({ type: 'ping' });
    await client.next('pong');
    await client.close();
  });

  it('closes the socket on a frame over max_payload_bytes (uWS refuses it) and the server keeps serving', async () => {
    const client = await rt.client('huge@example.com');
    client.send({ type: 'chat', message: 'x'.repeat(8000) });
    const { code } = await client.closed;
    expect(code).toBe(1006);
    const other = await rt.client('after-huge@example.com');
    other.send({ type: 'ping' });
    await other.next('pong');
    await other.close();
  });

  it('addresses an unknown or foreign conversation as not_found', async () => {
    const owner = await rt.client('owner@example.com');
    await owner.chat('my secret conversation');
    const id = owner.messages.find((m) => m.type === 'history')!.conversation_id;
    const intruder = await rt.client('intruder@example.com');
    intruder.send({ type: 'resume', conversation_id: id });
    expect((await intruder.next('error')).code).toBe(ErrorCode.NotFound);
    intruder.send({ type: 'chat', message: 'hi', conversation_id: id });
    expect((await intruder.next('error')).code).toBe(ErrorCode.NotFound);
    intruder.send({ type: 'cancel' });
    expect((await intruder.next('error')).code).toBe(ErrorCode.NotFound);
    expect(intruder.messages.some((m) => m.type === 'history' || m.type === 'chunk')).toBe(false);
    await owner.close();
    await intruder.close();
  });

  it('serves /health with Ollama, MCP and database state', async () => {
    const response = await fetch(`${rt.httpUrl}/health`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; llm: { status: string; model: string }; database: { status: string }; mcp: unknown[]; summaries: { status: string } };
    // This runtime has summaries enabled but no Redis: that much is down, the rest is fine.
    expect(body).toMatchObject({ status: 'degraded', llm: { status: 'ok', model: 'llama3.1:8b' }, database: { status: 'ok' }, mcp: [], summaries: { status: 'down' } });
  });

  it('answers unknown HTTP paths with 404 JSON', async () => {
    const response = await fetch(`${rt.httpUrl}/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ status: 'error' });
  });
});
