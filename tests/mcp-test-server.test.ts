import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { McpTestHttpServer } from './support/mcp-test-server.js';
import type { McpTestServerOptions } from './support/mcp-test-server.js';

const STDIO_ENTRY = fileURLToPath(new URL('./support/mcp-test-server-stdio.ts', import.meta.url));

const servers: McpTestHttpServer[] = [];
const clients: Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startServer(options?: McpTestServerOptions): Promise<McpTestHttpServer> {
  const server = await McpTestHttpServer.start(options);
  servers.push(server);
  return server;
}

async function connectHttp(url: string): Promise<Client> {
  const client = new Client({ name: 'test-client', version: '1.0.0' });
  clients.push(client);
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

type ToolResult = Awaited<ReturnType<Client['callTool']>>;

function textOf(result: ToolResult): string {
  const content = result.content;
  if (!Array.isArray(content)) throw new Error(`no content in ${JSON.stringify(result)}`);
  const first: unknown = content[0];
  if (typeof first !== 'object' || first === null || !('text' in first) || typeof first.text !== 'string') {
    throw new Error(`no text content in ${JSON.stringify(result)}`);
  }
  return first.text;
}

describe('McpTestHttpServer over Streamable HTTP', () => {
  it('lists every tool with its annotations', async () => {
    const server = await startServer();
    const client = await connectHttp(server.url);

    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect([...byName.keys()].sort()).toEqual(
      ['add', 'delete_note', 'echo_args', 'fail', 'get_weather', 'lookup_contact', 'send_message', 'slow'],
    );
    expect(byName.get('add')?.annotations?.readOnlyHint).toBe(true);
    expect(byName.get('get_weather')?.annotations?.readOnlyHint).toBe(true);
    expect(byName.get('delete_note')?.annotations?.destructiveHint).toBe(true);
    expect(byName.get('send_message')?.annotations?.destructiveHint).toBe(true);
    expect(byName.get('add')?.inputSchema.properties).toHaveProperty('a');
    expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true);
  });

  it('calls tools and records the calls in order', async () => {
    const server = await startServer();
    const client = await connectHttp(server.url);

    const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
    expect(textOf(sum)).toBe('5');
    expect(sum.structuredContent).toEqual({ sum: 5 });
    expect(sum.isError).toBeFalsy();

    expect(textOf(await client.callTool({ name: 'get_weather', arguments: { city: 'Oslo' } }))).toBe(
      'Sunny, 21°C in Oslo',
    );
    expect(textOf(await client.callTool({ name: 'lookup_contact', arguments: { name: 'ann' } }))).toBe(
      'ann@example.com',
    );
    expect(textOf(await client.callTool({ name: 'delete_note', arguments: { id: 'n1' } }))).toBe('Deleted note n1');
    expect(textOf(await client.callTool({ name: 'send_message', arguments: { to: 'bob', text: 'hi' } }))).toBe(
      'Sent to bob',
    );

    const echoed = await client.callTool({ name: 'echo_args', arguments: { x: 1, nested: { y: [true] } } });
    expect(JSON.parse(textOf(echoed))).toEqual({ x: 1, nested: { y: [true] } });

    await server.waitForCalls(6);
    expect(server.calls.map((c) => c.name)).toEqual([
      'add',
      'get_weather',
      'lookup_contact',
      'delete_note',
      'send_message',
      'echo_args',
    ]);
    expect(server.calls[0]).toEqual({ name: 'add', arguments: { a: 2, b: 3 }, aborted: false });
  });

  it('reports the fail tool as a tool error', async () => {
    const server = await startServer();
    const client = await connectHttp(server.url);

    const result = await client.callTool({ name: 'fail', arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('fail tool always fails');
  });

  it('records arguments as sent, even ones the tool schema rejects', async () => {
    const server = await startServer();
    const client = await connectHttp(server.url);

    const result = await client.callTool({ name: 'add', arguments: { a: 'two', b: 3 } });
    expect(result.isError).toBe(true);
    expect(server.calls).toEqual([{ name: 'add', arguments: { a: 'two', b: 3 }, aborted: false }]);
  });

  it('sees a client-side abort of the slow tool', async () => {
    const server = await startServer();
    const client = await connectHttp(server.url);
    const controller = new AbortController();

    const pending = client.callTool({ name: 'slow', arguments: { ms: 10_000 } }, undefined, {
      signal: controller.signal,
    });
    await server.waitForCalls(1);
    controller.abort();

    await expect(pending).rejects.toThrow();
    await vi.waitFor(() => expect(server.calls[0]?.aborted).toBe(true), { timeout: 5_000 });
  });

  it('lets the slow tool finish when not aborted', async () => {
    const server = await startServer();
    const client = await connectHttp(server.url);

    expect(textOf(await client.callTool({ name: 'slow', arguments: { ms: 20 } }))).toBe('done after 20ms');
    expect(server.calls[0]?.aborted).toBe(false);
  });

  it('notifies every connected client when a tool is added at runtime', async () => {
    const server = await startServer();
    const first = await connectHttp(server.url);
    const second = await connectHttp(server.url);
    const firstNotified = vi.fn();
    const secondNotified = vi.fn();
    first.setNotificationHandler(ToolListChangedNotificationSchema, firstNotified);
    second.setNotificationHandler(ToolListChangedNotificationSchema, secondNotified);

    await server.addTool('new_tool', 'Added later');

    await vi.waitFor(() => {
      expect(firstNotified).toHaveBeenCalled();
      expect(secondNotified).toHaveBeenCalled();
    });
    const { tools } = await first.listTools();
    expect(tools.find((t) => t.name === 'new_tool')?.description).toBe('Added later');
    expect(textOf(await second.callTool({ name: 'new_tool', arguments: { k: 'v' } }))).toBe('new_tool: {"k":"v"}');

    // Sessions started after addTool must see the tool too.
    const late = await connectHttp(server.url);
    expect((await late.listTools()).tools.map((t) => t.name)).toContain('new_tool');
    await expect(server.addTool('new_tool', 'again')).rejects.toThrow(/already registered/);
  });

  it('limits the registered tools and reports its name', async () => {
    const server = await startServer({ name: 'other-server', toolNames: ['add', 'fail'] });
    const client = await connectHttp(server.url);

    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['add', 'fail']);
    expect(client.getServerVersion()?.name).toBe('other-server');
  });

  it('can start with no tools and still add one at runtime', async () => {
    const server = await startServer({ toolNames: [] });
    const client = await connectHttp(server.url);
    const notified = vi.fn();
    client.setNotificationHandler(ToolListChangedNotificationSchema, notified);

    expect((await client.listTools()).tools).toEqual([]);
    await server.addTool('only_tool', 'The only one');
    await vi.waitFor(() => expect(notified).toHaveBeenCalled());
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['only_tool']);
  });

  it('answers /health', async () => {
    const server = await startServer();
    const response = await fetch(new URL('/health', server.url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('goes down on stop() and comes back on the same port on restart()', async () => {
    const server = await startServer();
    const url = server.url;
    const port = server.port;
    const before = await connectHttp(url);
    await before.callTool({ name: 'add', arguments: { a: 1, b: 1 } });
    before.onerror = () => undefined; // the dropped GET stream reports errors while the server is down

    await server.stop();
    await expect(fetch(new URL('/health', url))).rejects.toThrow();
    await expect(before.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).rejects.toThrow();

    await server.restart();
    expect(server.port).toBe(port);
    expect(server.url).toBe(url);
    // The old session did not survive the restart.
    await expect(before.callTool({ name: 'add', arguments: { a: 1, b: 3 } })).rejects.toThrow(/404|Session not found/);

    const after = await connectHttp(url);
    expect(textOf(await after.callTool({ name: 'add', arguments: { a: 2, b: 2 } }))).toBe('4');
    expect(server.calls.map((c) => c.arguments)).toEqual([
      { a: 1, b: 1 },
      { a: 2, b: 2 },
    ]);
  });

  it('aborts in-flight calls on stop()', async () => {
    const server = await startServer();
    const client = await connectHttp(server.url);
    client.onerror = () => undefined;

    // The SDK client does not fail a pending request when its stream dies (it tries to resume the
    // stream, then gives up silently), so only the request timeout ends it.
    const pending = client.callTool({ name: 'slow', arguments: { ms: 10_000 } }, undefined, { timeout: 1_000 });
    const outcome = pending.then(
      () => 'resolved',
      (error: unknown) => String(error),
    );
    await server.waitForCalls(1);
    const stopping = Date.now();
    await server.stop();
    expect(Date.now() - stopping).toBeLessThan(1_000);
    expect(server.calls[0]?.aborted).toBe(true);
    expect(await outcome).toMatch(/timed out/i);
  });

  it('rejects waitForCalls on timeout', async () => {
    const server = await startServer();
    await expect(server.waitForCalls(1, 50)).rejects.toThrow(/Timed out/);
  });

  it('can be closed twice', async () => {
    const server = await McpTestHttpServer.start();
    await server.close();
    await server.close();
    await expect(server.restart()).rejects.toThrow(/closed/);
  });
});

describe('mcp-test-server-stdio', () => {
  it('serves the same tools over stdio', async () => {
    const client = new Client({ name: 'test-client', version: '1.0.0' });
    clients.push(client);
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: ['--import', 'tsx', STDIO_ENTRY, '--name', 'stdio-server'],
      }),
    );

    expect(client.getServerVersion()?.name).toBe('stdio-server');
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('add');
    expect(tools.find((t) => t.name === 'delete_note')?.annotations?.destructiveHint).toBe(true);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } }))).toBe('5');
  });
});
