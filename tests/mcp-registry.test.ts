import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { McpServerConfig } from '../src/config/schema.js';
import { McpRegistry, mailServerEndpoint } from '../src/mcp/registry.js';
import { captureLogs } from './support/log-capture.js';
import { McpTestHttpServer, type McpTestServerOptions } from './support/mcp-test-server.js';
import { TestRuntime } from './support/runtime-harness.js';

const STDIO_ENTRY = fileURLToPath(new URL('./support/mcp-test-server-stdio.ts', import.meta.url));


const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function httpServer(options: McpTestServerOptions = {}) {
  const server = await McpTestHttpServer.start(options);
  cleanup.push(() => server.close());
  return server;
}

function registry(servers: McpServerConfig[], logger = captureLogs('info').logger) {
  const r = new McpRegistry(servers, { logger, toolTimeoutMs: 5_000, reconnectInitialMs: 50, reconnectMaxMs: 200, pingIntervalMs: 200 });
  cleanup.push(() => r.close());
  return r;
}

const signal = () => new AbortController().signal;

describe('MCP registry', () => {
  it('discovers tools over Streamable HTTP and stdio, logs them, and routes each call to its server', async () => {
    const http = await httpServer({ toolNames: ['add', 'get_weather'] });
    const { logger, messages } = captureLogs('info');
    const r = registry(
      [
        { name: 'web', url: http.url },
        { name: 'local', command: process.execPath, args: ['--import', 'tsx', STDIO_ENTRY, '--tools', 'lookup_contact,echo_args'] },
      ],
      logger,
    );
    await r.start();
    expect(r.tools().map((t) => `${t.server}:${t.name}`).sort()).toEqual(['local:echo_args', 'local:lookup_contact', 'web:add', 'web:get_weather']);
    expect(messages()).toContain('Discovered 2 tools: add, get_weather');
    expect(messages()).toContain('Discovered 2 tools: lookup_contact, echo_args');

    expect(await r.callTool('add', { a: 2, b: 40 }, signal())).toMatchObject({ text: '42', isError: false, structured: { sum: 42 } });
    expect(await r.callTool('lookup_contact', { name: 'zoe' }, signal())).toMatchObject({ text: 'zoe@example.com', isError: false });
    expect(http.calls.map((c) => c.name)).toEqual(['add']);
    expect(r.health()).toEqual([
      { name: 'web', status: 'connected', tools: 2 },
      { name: 'local', status: 'connected', tools: 2 },
    ]);
  });

  it('namespaces tool names that collide across servers and routes each to its own server', async () => {
    const a = await httpServer({ toolNames: ['add', 'get_weather'] });
    const b = await httpServer({ toolNames: ['add'] });
    const r = registry([
      { name: 'alpha', url: a.url },
      { name: 'beta', url: b.url },
    ]);
    await r.start();
    expect(r.tools().map((t) => t.name).sort()).toEqual(['alpha__add', 'beta__add', 'get_weather']);
    expect(r.find('beta__add')).toMatchObject({ server: 'beta', remoteName: 'add' });
    await r.callTool('beta__add', { a: 1, b: 1 }, signal());
    expect(a.calls).toHaveLength(0);
    expect(b.calls).toEqual([{ name: 'add', arguments: { a: 1, b: 1 }, aborted: false }]);
  });

  it('relists tools on notifications/tools/list_changed', async () => {
    const http = await httpServer({ toolNames: ['add'] });
    const r = registry([{ name: 'web', url: http.url }]);
    await r.start();
    const changed = new Promise((resolve) => r.once('tools_changed', resolve));
    await http.addTool('summarize_inbox', 'Summarizes the inbox');
    await changed;
    expect(r.tools().map((t) => t.name).sort()).toEqual(['add', 'summarize_inbox']);
  });

  it('starts with a server that is down, reports it, and picks its tools up once it comes up', async () => {
    const http = await httpServer({ toolNames: ['add'] });
    const port = http.port;
    await http.stop();
    const r = registry([{ name: 'late', url: http.url }]);
    await r.start();
    expect(r.tools()).toEqual([]);
    expect(r.health()[0]).toMatchObject({ name: 'late', status: 'down', error: expect.stringContaining('fetch failed') });
    const result = await r.callTool('add', { a: 1, b: 2 }, signal());
    expect(result).toMatchObject({ isError: true, text: expect.stringContaining('not available') });

    await http.restart();
    expect(http.port).toBe(port);
    await expect.poll(() => r.tools().map((t) => t.name), { timeout: 3_000 }).toEqual(['add']);
    expect(await r.callTool('add', { a: 1, b: 2 }, signal())).toMatchObject({ text: '3', isError: false });
  });

  it('turns the seed\'s bare mail_server_url into its /mcp endpoint', () => {
    expect(mailServerEndpoint('http://localhost:8090')).toBe('http://localhost:8090/mcp');
    expect(mailServerEndpoint('http://mail.internal:9000/custom/mcp')).toBe('http://mail.internal:9000/custom/mcp');
  });

  it('refuses two servers with the same name', () => {
    expect(() => registry([{ name: 'x', url: 'http://127.0.0.1:1/mcp' }, { name: 'x', command: 'true', args: [] }])).toThrow(/named "x"/);
  });
});

describe('MCP server down and back, seen from a conversation', () => {
  let rt: TestRuntime;
  afterEach(() => rt.close());

  it('gives the LLM and the user a clear tool error while the server is down, and works again after it returns', async () => {
    rt = await TestRuntime.start();
    const mcp = rt.mcp!;
    // The model still asks for a tool it saw earlier, as models do.
    rt.ollama.enqueue({ toolCalls: [{ name: 'add', arguments: { a: 1, b: 1 } }] }, { tokens: ['Le serveur est en panne'] });
    await mcp.stop();
    const client = await rt.client('down@example.com');
    const turn = await client.chat('1+1 ?');
    const result = turn.find((m) => m.type === 'tool_result');
    expect(result).toMatchObject({ is_error: true });
    expect(result && 'result' in result ? result.result : '').toMatch(/not available|unavailable/);
    expect(rt.ollama.requests[1]!.body.messages!.at(-1)).toMatchObject({ role: 'tool', content: expect.stringMatching(/^Error: /) });

    await mcp.restart();
    await expect.poll(() => rt.runtime.mcp.health()[0]!.status, { timeout: 3_000 }).toBe('connected');
    rt.ollama.enqueue({ toolCalls: [{ name: 'add', arguments: { a: 1, b: 1 } }] }, { tokens: ['2'] });
    const again = await client.chat('Et maintenant ?');
    expect(again.find((m) => m.type === 'tool_result')).toMatchObject({ is_error: false, result: '2' });
  });
});

describe('what a stdio MCP server inherits', () => {
  const ENV_ENTRY = fileURLToPath(new URL('./support/env-report-stdio.ts', import.meta.url));
  const SECRETS = { JWT_SECRET: 'jwt-secret-value', ADMIN_TOKEN: 'admin-token-value', WEBHOOK_SECRET: 'webhook-secret-value', DATABASE_URL: 'postgres://u:p@db/x', MAIL_AUTH_TOKEN: 'mail-token-value', OPENAI_API_KEY: 'sk-test' };
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('a stdio MCP server does not see JWT_SECRET (nor any other runtime secret), only PATH, HOME, LANG and its own env', async () => {
    for (const [name, value] of Object.entries(SECRETS)) vi.stubEnv(name, value);
    vi.stubEnv('LANG', 'fr_FR.UTF-8');
    const r = registry([{ name: 'envy', command: process.execPath, args: ['--import', 'tsx', ENV_ENTRY], env: { GREETING: 'bonjour' } }]);
    await r.start();
    const result = await r.callTool('report_env', {}, signal());
    expect(result.isError).toBe(false);
    const env = (result.structured as { env: Record<string, string> }).env;
    for (const name of Object.keys(SECRETS)) expect(env, name).not.toHaveProperty(name);
    for (const value of Object.values(SECRETS)) expect(result.text).not.toContain(value);
    expect(env).toMatchObject({ PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'fr_FR.UTF-8', GREETING: 'bonjour' });
  });
});
