import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { untrustedData } from '../src/llm/untrusted-data.js';
import type { ServerMessage } from '../src/protocol/protocol.js';
import { TestRuntime, type TestRuntimeOptions } from './support/runtime-harness.js';
import { textOf, typesOf } from './support/ws-client.js';

type Of<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;
const only = <T extends ServerMessage['type']>(messages: readonly ServerMessage[], type: T): Of<T>[] =>
  messages.filter((m): m is Of<T> => m.type === type);

describe('tool calling', () => {
  let rt: TestRuntime;
  const start = async (options: TestRuntimeOptions = {}) => {
    rt = await TestRuntime.start(options);
    return rt;
  };
  afterEach(() => rt?.close());

  it('calls an MCP tool the LLM asks for, relays tool_call/tool_result, and feeds the result back (test_websocket_tool_calling)', async () => {
    await start();
    rt.ollama.enqueue({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] }, { tokens: ['Il', ' fait', ' beau'] });
    const client = await rt.client('tom@example.com');
    const turn = await client.chat('Quel temps à Paris ?');

    const [call] = only(turn, 'tool_call');
    expect(call).toMatchObject({ tool: 'get_weather', args: { city: 'Paris' } });
    const [result] = only(turn, 'tool_result');
    expect(result).toMatchObject({ call_id: call!.call_id, tool: 'get_weather', result: 'Sunny, 21°C in Paris', is_error: false });
    expect(textOf(turn)).toBe('Il fait beau');
    expect(rt.mcp!.calls).toEqual([{ name: 'get_weather', arguments: { city: 'Paris' }, aborted: false }]);

    // The offered tools are the MCP server's, in Ollama's function format.
    const offered = rt.ollama.requests[0]!.body.tools!.map((t) => t.function.name);
    expect(offered).toEqual(expect.arrayContaining(['add', 'get_weather', 'delete_note', 'send_message']));
    // The second request carries the assistant's call and the tool's answer.
    expect(rt.ollama.requests[1]!.body.messages!.slice(-2)).toEqual([
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
      // Wrapped as untrusted data: a tool's text must not be able to pass for instructions.
      { role: 'tool', tool_name: 'get_weather', content: untrustedData('tool:get_weather', 'Sunny, 21°C in Paris') },
    ]);
  });

  it('visits idle → thinking → calling_tool → thinking → streaming → done → idle, in order, for a tool-using turn', async () => {
    await start();
    rt.ollama.enqueue({ toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 } }] }, { tokens: ['5'] });
    const client = await rt.client('states@example.com');
    const turn = await client.chat('2+3?');
    expect(only(turn, 'state').map((m) => m.state)).toEqual(['thinking', 'calling_tool', 'thinking', 'streaming', 'done', 'idle']);
    expect(typesOf(turn).indexOf('tool_call')).toBeLessThan(typesOf(turn).indexOf('tool_result'));
  });

  it('chains three tool steps, each result reaching the LLM before the next step', async () => {
    await start();
    rt.ollama.enqueue(
      { toolCalls: [{ name: 'lookup_contact', arguments: { name: 'john' } }] },
      { toolCalls: [{ name: 'get_weather', arguments: { city: 'Lyon' } }] },
      { toolCalls: [{ name: 'add', arguments: { a: 1, b: 2 } }] },
      { tokens: ['Fini'] },
    );
    const client = await rt.client('chain@example.com');
    const turn = await client.chat('Fais trois choses');
    expect(only(turn, 'tool_result').map((m) => m.result)).toEqual(['john@example.com', 'Sunny, 21°C in Lyon', '3']);
    expect(rt.ollama.requests).toHaveLength(4);
    expect(rt.ollama.requests[3]!.body.messages!.filter((m) => m.role === 'tool')).toHaveLength(3);
    expect(turn.at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
  });

  it('stops a tool loop at max_tool_steps with a clear message, and keeps the history consistent', async () => {
    await start({ config: { mcp: { max_tool_steps: 2 } } });
    rt.ollama.setResponder(() => ({ toolCalls: [{ name: 'add', arguments: { a: 1, b: 1 } }] }));
    const client = await rt.client('loop@example.com');
    const turn = await client.chat('Boucle');
    expect(rt.mcp!.calls).toHaveLength(2);
    expect(rt.ollama.requests).toHaveLength(3);
    const error = only(turn, 'error')[0];
    expect(error).toMatchObject({ code: ErrorCode.MaxToolSteps });
    expect(error!.message).toContain('2 tool steps');
    expect(turn.at(-1)).toMatchObject({ type: 'done', reason: 'max_tool_steps' });

    // The refused third call is answered in the history, so the next request is well-formed.
    rt.ollama.setResponder(() => ({ tokens: ['ok'] }));
    await client.chat('Stop');
    const sent = rt.ollama.requests[3]!.body.messages!;
    const calls = sent.filter((m) => m.role === 'assistant' && m.tool_calls).flatMap((m) => m.tool_calls ?? []);
    expect(sent.filter((m) => m.role === 'tool')).toHaveLength(calls.length);
    expect(sent.filter((m) => m.role === 'tool').at(-1)!.content).toContain('limit of 2 tool steps');
  });

  it('runs the calls of one step in parallel', async () => {
    await start();
    rt.ollama.enqueue({ toolCalls: [{ name: 'slow', arguments: { ms: 400 } }, { name: 'slow', arguments: { ms: 400 } }] }, { tokens: ['ok'] });
    const client = await rt.client('parallel@example.com');
    client.send({ type: 'chat', message: 'two slow things' });
    // Both calls reach the server before either has answered.
    await rt.mcp!.waitForCalls(2, 350);
    expect(only(client.messages, 'tool_result')).toHaveLength(0);
    const turn = await client.until('done');
    expect(only([...client.messages], 'tool_result')).toHaveLength(2);
    expect(turn.at(-1)).toMatchObject({ reason: 'complete' });
  });

  it('gives the LLM and the user a tool error when a tool fails, and goes on', async () => {
    await start();
    rt.ollama.enqueue({ toolCalls: [{ name: 'fail', arguments: {} }] }, { tokens: ['Désolé'] });
    const client = await rt.client('fail@example.com');
    const turn = await client.chat('Essaie');
    expect(only(turn, 'tool_result')[0]).toMatchObject({ tool: 'fail', is_error: true, result: 'fail tool always fails' });
    expect(only(turn, 'error')).toEqual([expect.objectContaining({ code: ErrorCode.ToolError, message: 'Tool "fail" failed: fail tool always fails' })]);
    expect(rt.ollama.requests[1]!.body.messages!.at(-1)).toEqual({ role: 'tool', tool_name: 'fail', content: `Error: ${untrustedData('tool:fail', 'fail tool always fails')}` });
    expect(textOf(turn)).toBe('Désolé');
  });

  it('asks before a call to a tool no server offers, and answers it with a tool error listing what exists', async () => {
    await start();
    rt.ollama.enqueue({ toolCalls: [{ name: 'launch_rocket', arguments: {} }] }, { tokens: ['Pas possible'] });
    const client = await rt.client('nope@example.com');
    client.send({ type: 'chat', message: 'Lance' });
    // Unknown now does not mean harmless: the user sees the call before anything could run.
    const request = await client.next('approval_required');
    expect(request).toMatchObject({ tool: 'launch_rocket' });
    client.send({ type: 'approve', call_id: request.call_id });
    const turn = await client.until('done');
    const result = only(turn, 'tool_result')[0]!;
    expect(result.is_error).toBe(true);
    expect(result.result).toContain('"launch_rocket" is not available');
    expect(result.result).toContain('get_weather');
    expect(rt.mcp!.calls).toHaveLength(0);
  });

  it('a tool unknown when the call is planned (its server reconnecting) still asks, even if it is back before the call runs', async () => {
    await start();
    rt.ollama.enqueue({ toolCalls: [{ name: 'send_email', arguments: { to: 'bob@example.com', subject: 'Hi', body: 'Hello' } }] }, { tokens: ['Envoyé'] });
    const client = await rt.client('later@example.com');
    client.send({ type: 'chat', message: 'Écris à Bob' });
    const request = await client.next('approval_required');
    expect(request).toMatchObject({ tool: 'send_email' });
    await rt.mcp!.addTool('send_email', 'Send an email');
    await expect.poll(() => rt.runtime.mcp.find('send_email'), { timeout: 5_000 }).toBeDefined();
    expect(rt.mcp!.calls).toHaveLength(0);
    client.send({ type: 'approve', call_id: request.call_id });
    await client.until('done');
    expect(rt.mcp!.calls.map((c) => c.name)).toEqual(['send_email']);
  });

  it('cancel during a tool call aborts the MCP request and closes the call as cancelled', async () => {
    await start();
    rt.ollama.enqueue({ toolCalls: [{ name: 'slow', arguments: { ms: 10_000 } }] });
    const client = await rt.client('cancel-tool@example.com');
    client.send({ type: 'chat', message: 'Long outil' });
    await rt.mcp!.waitForCalls(1);
    client.send({ type: 'cancel' });
    const turn = await client.until('done');
    expect(turn.at(-1)).toMatchObject({ reason: 'cancelled' });
    expect(only(turn, 'tool_result')[0]).toMatchObject({ is_error: true, result: expect.stringContaining('cancelled') });
    await expect.poll(() => rt.mcp!.calls[0]!.aborted).toBe(true);
    expect(rt.ollama.requests).toHaveLength(1);
  });

  describe('approval of destructive tools', () => {
    it('waits for approval before a destructiveHint tool, then runs it', async () => {
      await start();
      rt.ollama.enqueue({ toolCalls: [{ name: 'delete_note', arguments: { id: 'n1' } }] }, { tokens: ['Supprimé'] });
      const client = await rt.client('ann@example.com');
      client.send({ type: 'chat', message: 'Supprime la note n1' });
      const request = await client.next('approval_required');
      expect(request).toMatchObject({ tool: 'delete_note', args: { id: 'n1' } });
      await client.next('state', (m) => m.state === 'awaiting_approval');
      // Nothing runs while the user thinks.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(rt.mcp!.calls).toHaveLength(0);

      client.send({ type: 'approve', call_id: request.call_id });
      const turn = await client.until('done');
      expect(rt.mcp!.calls).toEqual([{ name: 'delete_note', arguments: { id: 'n1' }, aborted: false }]);
      expect(only(turn, 'tool_result')[0]).toMatchObject({ result: 'Deleted note n1', is_error: false });
      expect(textOf(turn)).toBe('Supprimé');
    });

    it('reject: the tool never runs and the LLM is told the user rejected it', async () => {
      await start();
      rt.ollama.enqueue({ toolCalls: [{ name: 'send_message', arguments: { to: 'boss@example.com', text: 'I quit' } }] }, { tokens: ['Annulé'] });
      const client = await rt.client('ben@example.com');
      client.send({ type: 'chat', message: 'Dis au patron que je démissionne' });
      const request = await client.next('approval_required');
      client.send({ type: 'reject', call_id: request.call_id, reason: 'changed my mind' });
      const turn = await client.until('done');
      expect(rt.mcp!.calls).toHaveLength(0);
      expect(only(turn, 'tool_result')[0]).toMatchObject({ is_error: true, result: expect.stringContaining('rejected') });
      // A rejection is the user's choice, not a failure.
      expect(only(turn, 'error')).toEqual([]);
      expect(rt.ollama.requests[1]!.body.messages!.at(-1)!.content).toContain('The user rejected this call: changed my mind');
    });

    it('approve with edited arguments runs the call with the user\'s arguments', async () => {
      await start();
      rt.ollama.enqueue({ toolCalls: [{ name: 'send_message', arguments: { to: 'bob@example.com', text: 'Helo' } }] }, { tokens: ['Envoyé'] });
      const client = await rt.client('cleo@example.com');
      client.send({ type: 'chat', message: 'Écris à Bob' });
      const request = await client.next('approval_required');
      client.send({ type: 'approve', call_id: request.call_id, arguments: { to: 'bob@example.com', text: 'Hello' } });
      const turn = await client.until('done');
      expect(rt.mcp!.calls[0]!.arguments).toEqual({ to: 'bob@example.com', text: 'Hello' });
      expect(only(turn, 'tool_result')[0]!.args).toEqual({ to: 'bob@example.com', text: 'Hello' });
      expect(rt.ollama.requests[1]!.body.messages!.at(-1)!.content).toBe(untrustedData('tool:send_message', 'Sent to bob@example.com'));
    });

    it('"always allow" skips approval for that tool for the rest of the conversation only', async () => {
      await start();
      rt.ollama.enqueue(
        { toolCalls: [{ name: 'delete_note', arguments: { id: 'a' } }] },
        { toolCalls: [{ name: 'delete_note', arguments: { id: 'b' } }] },
        { tokens: ['Deux notes supprimées'] },
        { toolCalls: [{ name: 'delete_note', arguments: { id: 'c' } }] },
      );
      const client = await rt.client('dan@example.com');
      client.send({ type: 'chat', message: 'Supprime a puis b' });
      const request = await client.next('approval_required');
      client.send({ type: 'approve', call_id: request.call_id, always: true });
      const turn = await client.until('done');
      expect(only(turn, 'approval_required')).toHaveLength(0);
      expect(rt.mcp!.calls.map((c) => c.arguments.id)).toEqual(['a', 'b']);

      // A new conversation asks again.
      client.send({ type: 'new_conversation' });
      const fresh = await client.next('history');
      client.send({ type: 'chat', message: 'Supprime c', conversation_id: fresh.conversation_id });
      expect(await client.next('approval_required')).toMatchObject({ tool: 'delete_note', args: { id: 'c' } });
      client.send({ type: 'cancel' });
      await client.next('done');
    });

    it('asks for each destructive call of a step in turn and runs them together', async () => {
      await start();
      rt.ollama.enqueue(
        { toolCalls: [{ name: 'delete_note', arguments: { id: 'x' } }, { name: 'add', arguments: { a: 1, b: 1 } }, { name: 'delete_note', arguments: { id: 'y' } }] },
        { tokens: ['ok'] },
      );
      const client = await rt.client('multi@example.com');
      client.send({ type: 'chat', message: 'go' });
      const first = await client.next('approval_required');
      expect(first.args).toEqual({ id: 'x' });
      client.send({ type: 'reject', call_id: first.call_id });
      const second = await client.next('approval_required');
      expect(second.args).toEqual({ id: 'y' });
      expect(rt.mcp!.calls).toHaveLength(0);
      client.send({ type: 'approve', call_id: second.call_id });
      await client.until('done');
      expect(rt.mcp!.calls.map((c) => c.name).sort()).toEqual(['add', 'delete_note']);
      expect(rt.mcp!.calls.find((c) => c.name === 'delete_note')!.arguments).toEqual({ id: 'y' });
    });

    it('a per-tool policy in config overrides the server\'s hint both ways', async () => {
      await start({ config: { mcp: { approval: { add: 'required', delete_note: 'auto' } } } });
      rt.ollama.enqueue({ toolCalls: [{ name: 'delete_note', arguments: { id: 'z' } }] }, { tokens: ['ok'] }, { toolCalls: [{ name: 'add', arguments: { a: 1, b: 2 } }] });
      const client = await rt.client('policy@example.com');
      const turn = await client.chat('supprime z');
      expect(only(turn, 'approval_required')).toHaveLength(0);
      expect(rt.mcp!.calls[0]!.name).toBe('delete_note');
      client.send({ type: 'chat', message: 'additionne' });
      expect(await client.next('approval_required')).toMatchObject({ tool: 'add' });
      client.send({ type: 'cancel' });
      expect(await client.next('done')).toMatchObject({ reason: 'cancelled' });
      expect(rt.mcp!.calls).toHaveLength(1);
    });

    it('rejects approve/reject that match no pending call', async () => {
      await start();
      rt.ollama.enqueue({ tokens: ['salut'] }, { toolCalls: [{ name: 'delete_note', arguments: { id: 'q' } }] });
      const client = await rt.client('stray@example.com');
      await client.chat('bonjour');
      client.send({ type: 'approve', call_id: 'call_nope' });
      expect((await client.next('error')).code).toBe(ErrorCode.NotAwaitingApproval);
      client.send({ type: 'chat', message: 'supprime q' });
      await client.next('approval_required');
      client.send({ type: 'reject', call_id: 'call_nope' });
      expect((await client.next('error')).code).toBe(ErrorCode.UnknownCall);
    });

    it('a reconnecting client sees the pending approval in the history', async () => {
      await start();
      rt.ollama.enqueue({ toolCalls: [{ name: 'delete_note', arguments: { id: 'r' } }] }, { tokens: ['fait'] });
      const first = await rt.client('eve@example.com');
      first.send({ type: 'chat', message: 'supprime r' });
      const request = await first.next('approval_required');
      const id = request.conversation_id;
      await first.close();
      const again = await rt.client('eve@example.com');
      again.send({ type: 'resume', conversation_id: id });
      const history = await again.next('history');
      expect(history.state).toBe('awaiting_approval');
      expect(history.pending_approval).toEqual({ call_id: request.call_id, tool: 'delete_note', args: { id: 'r' } });
      again.send({ type: 'approve', call_id: request.call_id });
      expect(await again.next('done')).toMatchObject({ reason: 'complete' });
    });
  });
});
