import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerMessage } from '../src/protocol/protocol.js';
import { TestMailServer } from './support/mail-harness.js';
import { TestRuntime } from './support/runtime-harness.js';
import { textOf, type TestClient } from './support/ws-client.js';

type Of<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;
const only = <T extends ServerMessage['type']>(messages: readonly ServerMessage[], type: T): Of<T>[] => messages.filter((m): m is Of<T> => m.type === type);

let users = 0;
const newUser = (name: string) => `${name}-${++users}-${Date.now()}@example.com`;

describe('propose_reply: a reply the user picked goes out only through the approval panel', () => {
  let mail: TestMailServer;
  let rt: TestRuntime;
  beforeAll(async () => {
    mail = await TestMailServer.start();
    rt = await TestRuntime.start({ mcp: false, config: { mcp: { mail_server_url: mail.mcpUrl } } });
    await rt.toolsListed();
  }, 30_000);
  afterAll(async () => {
    await rt?.close();
    await mail?.close();
  });

  async function inbox(address: string): Promise<Array<{ from: string; subject: string; id: string }>> {
    const client = await mail.client();
    const result = (await client.callTool({ name: 'list_emails', arguments: { email: address } })).structuredContent as { emails: Array<{ from: string; subject: string; id: string }> };
    await client.close();
    return result.emails;
  }

  async function bodyOf(address: string, id: string): Promise<string> {
    const client = await mail.client();
    const result = (await client.callTool({ name: 'read_email', arguments: { email: address, email_id: id } })).structuredContent as { email: { text: string } };
    await client.close();
    return result.email.text;
  }

  async function signedIn(user: string): Promise<TestClient> {
    const client = await rt.client(user);
    return client;
  }

  it('records a send_email call from the user, asks for approval with the body, and sends it once approved', async () => {
    const user = newUser('ada');
    const to = newUser('carol');
    rt.ollama.enqueue({ tokens: ['Your reply is sent.'] });
    const client = await signedIn(user);
    const before = rt.ollama.requests.length;
    client.send({ type: 'propose_reply', to, subject: 'Re: Lunch', body: 'Thursday works for me.', from: 'ceo@example.com' });
    const history = await client.next('history');
    const approval = await client.next('approval_required');
    expect(approval.conversation_id).toBe(history.conversation_id);
    expect(approval.tool).toBe('send_email');
    // The sender is the signed-in user, whatever else the frame said.
    expect(approval.args).toEqual({ from: user, to, subject: 'Re: Lunch', body: 'Thursday works for me.' });
    // Nothing is sent and the LLM is not asked before the user says yes.
    expect(await inbox(to)).toEqual([]);
    expect(rt.ollama.requests).toHaveLength(before);

    client.send({ type: 'approve', call_id: approval.call_id });
    const turn = await client.until('done');
    expect(only(turn, 'tool_result')[0]).toMatchObject({ call_id: approval.call_id, is_error: false });
    expect(textOf(turn)).toBe('Your reply is sent.');
    const received = await inbox(to);
    expect(received.map((e) => [e.from, e.subject])).toEqual([[user, 'Re: Lunch']]);
    expect(await bodyOf(to, received[0]!.id)).toContain('Thursday works for me.');
    // The LLM heard what the user asked for and what the tool did.
    const messages = rt.ollama.requests[before]!.body.messages!;
    expect(messages.some((m) => m.role === 'user' && m.content?.includes(`Send my reply to ${to}`))).toBe(true);
    expect(messages.at(-1)).toMatchObject({ role: 'tool', content: expect.stringContaining('Email sent') });
    await client.close();
  });

  it('asks even after "always allow" for that recipient in the same conversation', async () => {
    const user = newUser('bo');
    const to = newUser('dora');
    rt.ollama.enqueue({ toolCalls: [{ name: 'send_email', arguments: { to, subject: 'Hello', body: 'First' } }] }, { tokens: ['Sent.'] }, { tokens: ['Sent too.'] });
    const client = await signedIn(user);
    client.send({ type: 'chat', message: `Say hello to ${to}` });
    const first = await client.next('approval_required');
    client.send({ type: 'approve', call_id: first.call_id, always: true });
    await client.until('done');

    client.send({ type: 'propose_reply', conversation_id: first.conversation_id, to, subject: 'Re: Hello', body: 'Second' });
    const second = await client.next('approval_required');
    expect(second.args).toMatchObject({ to, body: 'Second' });
    client.send({ type: 'approve', call_id: second.call_id });
    await client.until('done');
    expect((await inbox(to)).map((e) => e.subject).sort()).toEqual(['Hello', 'Re: Hello']);
    await client.close();
  });

  it('a rejection is recorded as the call\'s result and nothing is sent', async () => {
    const user = newUser('cy');
    const to = newUser('eli');
    rt.ollama.enqueue({ tokens: ['Not sent.'] });
    const client = await signedIn(user);
    client.send({ type: 'propose_reply', to, subject: 'Re: Offer', body: 'No thanks.' });
    const approval = await client.next('approval_required');
    client.send({ type: 'reject', call_id: approval.call_id, conversation_id: approval.conversation_id });
    const turn = await client.until('done');
    expect(only(turn, 'tool_result')[0]).toMatchObject({ call_id: approval.call_id, is_error: true, result: expect.stringContaining('rejected') });
    expect(await inbox(to)).toEqual([]);

    client.send({ type: 'resume', conversation_id: approval.conversation_id! });
    const stored = await client.next('history');
    expect(stored.messages.slice(0, 3)).toEqual([
      { role: 'user', content: `Send my reply to ${to} (subject "Re: Offer").` },
      { role: 'assistant', content: '', tool_calls: [{ call_id: approval.call_id, tool: 'send_email', args: approval.args }] },
      { role: 'tool', call_id: approval.call_id, tool: 'send_email', args: approval.args, result: expect.stringContaining('rejected'), is_error: true },
    ]);
    await client.close();
  });

  it('a busy conversation answers `busy` and records nothing', async () => {
    const user = newUser('dee');
    rt.ollama.enqueue({ tokens: ['Thinking', ' hard'], hang: true });
    const client = await signedIn(user);
    client.send({ type: 'chat', message: 'Tell me a long story' });
    const state = await client.next('state', (m) => m.state === 'streaming');
    client.send({ type: 'propose_reply', conversation_id: state.conversation_id, to: 'x@example.com', subject: 'Re: x', body: 'y' });
    const busy = await client.next('error');
    expect(busy).toMatchObject({ code: 'busy', conversation_id: state.conversation_id });
    client.send({ type: 'cancel', conversation_id: state.conversation_id });
    await client.next('done');
    client.send({ type: 'resume', conversation_id: state.conversation_id });
    const history = await client.next('history');
    expect(history.messages.some((m) => m.role === 'assistant' && (m.tool_calls?.length ?? 0) > 0)).toBe(false);
    await client.close();
  });

  it('a restart while waiting for approval still shows the pending reply, and approving sends it', async () => {
    const user = newUser('fox');
    const to = newUser('gus');
    const client = await signedIn(user);
    client.send({ type: 'propose_reply', to, subject: 'Re: Plans', body: 'See you at 8.' });
    const approval = await client.next('approval_required');
    await client.close();

    await rt.restart();
    await rt.toolsListed();
    rt.ollama.enqueue({ tokens: ['Done.'] });
    const again = await signedIn(user);
    again.send({ type: 'resume', conversation_id: approval.conversation_id! });
    const history = await again.next('history');
    expect(history.state).toBe('awaiting_approval');
    expect(history.pending_approval).toEqual({ call_id: approval.call_id, tool: 'send_email', args: { from: user, to, subject: 'Re: Plans', body: 'See you at 8.' } });
    again.send({ type: 'approve', call_id: approval.call_id, conversation_id: approval.conversation_id });
    await again.until('done');
    expect((await inbox(to)).map((e) => e.subject)).toEqual(['Re: Plans']);
    await again.close();
  });

  it('refuses an empty body or recipient, and a body past max_message_chars', async () => {
    const client = await signedIn(newUser('hub'));
    client.send({ type: 'propose_reply', to: 'a@example.com', subject: 'Re: x', body: '' });
    expect(await client.next('error')).toMatchObject({ code: 'invalid_message' });
    client.send({ type: 'propose_reply', to: '  ', subject: 'Re: x', body: 'y' });
    expect(await client.next('error')).toMatchObject({ code: 'invalid_message' });
    client.send({ type: 'propose_reply', to: 'a@example.com', subject: 'Re: x', body: 'y'.repeat(rt.config.server.max_message_chars + 1) });
    expect(await client.next('error')).toMatchObject({ code: 'message_too_long' });
    await client.close();
  });
});

describe('propose_reply without a mail server', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await TestRuntime.start();
  });
  afterAll(() => rt?.close());

  it('is refused with tool_error, and no conversation is made for it', async () => {
    const client = await rt.client(newUser('ivy'));
    client.send({ type: 'propose_reply', to: 'a@example.com', subject: 'Re: x', body: 'y' });
    expect(await client.next('error')).toMatchObject({ code: 'tool_error', message: expect.stringContaining('send_email') });
    client.send({ type: 'list_conversations' });
    expect((await client.next('conversations')).conversations).toEqual([]);
    await client.close();
  });
});
