import { request } from 'node:http';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailHttpServer } from '../src/mail/mail-http-server.js';
import { createLogger } from '../src/logger.js';
import { TestMailServer, toolText } from './support/mail-harness.js';

interface RawResponse {
  status: number;
  body: string;
}

/** node:http, not fetch: fetch will not send a forged `Host`. */
function rawRequest(port: number, options: { method?: string; path?: string; headers?: Record<string, string>; body?: string }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/health', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'page', version: '1' } },
});
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

describe('the mail HTTP server answers only those it serves (DNS rebinding)', () => {
  let mail: TestMailServer;
  beforeAll(async () => {
    mail = await TestMailServer.start({ mail: { allowed_hosts: ['mail.internal:8090'] } });
  });
  afterAll(async () => {
    await mail.close();
  });

  it('DNS rebinding: a request with Host: evil.example is refused (403) on every route', async () => {
    const port = mail.service.mcpPort;
    for (const host of ['evil.example', `evil.example:${port}`]) {
      expect((await rawRequest(port, { path: '/health', headers: { host } })).status).toBe(403);
      expect((await rawRequest(port, { path: '/mcp/tools', headers: { host } })).status).toBe(403);
      const mcp = await rawRequest(port, { method: 'POST', path: '/mcp', headers: { host, ...MCP_HEADERS }, body: INITIALIZE });
      expect(mcp.status).toBe(403);
      expect(mcp.body).not.toContain('ai-runtime-mail');
    }
  });

  it('DNS rebinding: a browser request with a foreign Origin is refused (403), even with a loopback Host', async () => {
    const port = mail.service.mcpPort;
    const host = `127.0.0.1:${port}`;
    const refused = await rawRequest(port, { method: 'POST', path: '/mcp', headers: { host, origin: 'http://evil.example', ...MCP_HEADERS }, body: INITIALIZE });
    expect(refused.status).toBe(403);
    expect((await rawRequest(port, { path: '/mcp/tools', headers: { host, origin: 'https://evil.example' } })).status).toBe(403);
    const own = await rawRequest(port, { method: 'POST', path: '/mcp', headers: { host, origin: `http://localhost:${port}`, ...MCP_HEADERS }, body: INITIALIZE });
    expect(own.status).toBe(200);
  });

  it('answers its listen address, the loopback names on its port and [mail] allowed_hosts', async () => {
    const port = mail.service.mcpPort;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'mail.internal:8090']) {
      expect((await rawRequest(port, { path: '/health', headers: { host } })).status, host).toBe(200);
      const mcp = await rawRequest(port, { method: 'POST', path: '/mcp', headers: { host, ...MCP_HEADERS }, body: INITIALIZE });
      expect(mcp.status, host).toBe(200);
      expect(mcp.body).toContain('ai-runtime-mail');
    }
    // Another port on a loopback name is another server.
    expect((await rawRequest(port, { path: '/health', headers: { host: `localhost:${port + 1}` } })).status).toBe(403);
  });
});

describe('loopback means loopback', () => {
  it('a mail server on 127.0.0.1.invalid (a name that only starts like a loopback address) without auth_token is refused, not served open', async () => {
    const start = MailHttpServer.start({
      host: '127.0.0.1.invalid',
      port: 0,
      authToken: '',
      createMcpServer: () => {
        throw new Error('never reached');
      },
      logger: createLogger('silent', 'mail-test'),
    });
    await expect(start).rejects.toThrow(/auth_token/);
  });
});

describe('every configured local domain receives mail', () => {
  let mail: TestMailServer;
  beforeAll(async () => {
    mail = await TestMailServer.start({ mail: { local_domains: ['localhost', 'example.com', 'intranet'] } });
  });
  afterAll(async () => {
    await mail.close();
  });

  it('mail to alice@localhost is accepted, not 451, and stored', async () => {
    await mail.sendSmtp({ from: 'bob@example.com', to: 'alice@localhost', subject: 'Hi Alice', text: 'On localhost' });
    const client = await mail.client();
    const list = (await client.callTool({ name: 'list_emails', arguments: { email: 'alice@localhost' } })).structuredContent as { emails: Array<{ subject: string }> };
    expect(list.emails.map((e) => e.subject)).toEqual(['Hi Alice']);
    await client.close();
  });

  it('mail to a configured single-label domain (carol@intranet) is accepted and stored; send_email reaches it too', async () => {
    await mail.sendSmtp({ from: 'bob@example.com', to: 'carol@intranet', subject: 'Hi Carol', text: 'On the intranet' });
    const client = await mail.client();
    const sent = await client.callTool({ name: 'send_email', arguments: { from: 'alice@localhost', to: 'carol@intranet', subject: 'From Alice', body: 'hi' } });
    expect(sent.isError).toBeFalsy();
    const list = (await client.callTool({ name: 'list_emails', arguments: { email: 'carol@intranet' } })).structuredContent as { emails: Array<{ subject: string }> };
    expect(list.emails.map((e) => e.subject).sort()).toEqual(['From Alice', 'Hi Carol']);
    await client.close();
  });
});

describe('big content cannot blow up memory', () => {
  let mail: TestMailServer;
  beforeAll(async () => {
    mail = await TestMailServer.start({ mail: { max_message_bytes: 4 * 1024 * 1024 } });
  });
  afterAll(async () => {
    await mail.close();
  });

  it('a 3 MB email: read_email\'s structured result carries a capped body, a marker and the full size', async () => {
    const body = `${'Lorem ipsum dolor sit amet. '.repeat(36)}\n`.repeat(3000);
    await mail.sendSmtp({ from: 'spam@example.com', to: 'alice@example.com', subject: 'Huge', text: body });
    const client = await mail.client();
    const list = (await client.callTool({ name: 'list_emails', arguments: { email: 'alice@example.com' } })).structuredContent as { emails: Array<{ id: string }> };
    const read = await client.callTool({ name: 'read_email', arguments: { email: 'alice@example.com', email_id: list.emails[0]!.id } });
    const email = (read.structuredContent as { email: { text: string; body_truncated: boolean; body_bytes: number } }).email;
    expect(email.body_truncated).toBe(true);
    expect(email.body_bytes).toBeGreaterThan(3_000_000);
    expect(Buffer.byteLength(email.text)).toBeLessThan(70 * 1024);
    expect(email.text).toMatch(/\[… truncated\]$/);
    expect(JSON.stringify(read).length).toBeLessThan(120 * 1024);
    expect((read.content as Array<{ text: string }>)[0]!.text).toContain(`the body is ${email.body_bytes} bytes`);
    await client.close();
  });
});

describe('outbound mail has a policy, enforced by the mail server\'s send_email', () => {
  let mail: TestMailServer;
  let client: Client;
  beforeAll(async () => {
    mail = await TestMailServer.start({ mail: { send_rate: { points: 2, duration_s: 3600 }, max_recipients: 3, allowed_recipient_domains: ['example.com'] } });
    client = await mail.client();
  });
  afterAll(async () => {
    await client.close();
    await mail.close();
  });

  const send = (from: string, to: string) => client.callTool({ name: 'send_email', arguments: { from, to, subject: 'Hi', body: 'Hello' } });
  const inbox = async (address: string) =>
    ((await client.callTool({ name: 'list_emails', arguments: { email: address } })).structuredContent as { emails: unknown[] }).emails.length;

  it('a send_email flood: past [mail] send_rate the sender gets a tool error saying when to retry, others can still send', async () => {
    expect((await send('alice@example.com', 'bob@example.com')).isError).toBeFalsy();
    expect((await send('alice@example.com', 'bob@example.com')).isError).toBeFalsy();
    const refused = await send('alice@example.com', 'bob@example.com');
    expect(refused.isError).toBe(true);
    expect(toolText(refused)).toMatch(/Sending limit reached for alice@example\.com: at most 2 emails per 3600 s.*Try again in \d+ s/);
    expect(await inbox('bob@example.com')).toBe(2);
    expect((await send('carol@example.com', 'bob@example.com')).isError).toBeFalsy();
  });

  it('a send_email to more than [mail] max_recipients is a tool error, and nothing is sent', async () => {
    const refused = await send('dave@example.com', 'a@example.com, b@example.com, c@example.com, d@example.com');
    expect(refused.isError).toBe(true);
    expect(toolText(refused)).toMatch(/Too many recipients: 4, at most 3/);
    expect(await inbox('a@example.com')).toBe(0);
  });

  it('a send_email to a domain outside [mail] allowed_recipient_domains is a tool error, and nothing is sent', async () => {
    const refused = await send('erin@example.com', 'friend@example.com, exfil@localhost');
    expect(refused.isError).toBe(true);
    expect(toolText(refused)).toMatch(/exfil@localhost is not allowed/);
    expect(await inbox('friend@example.com')).toBe(0);
    expect(await inbox('exfil@localhost')).toBe(0);
  });
});
