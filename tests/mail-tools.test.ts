import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMAIL_FIXTURES_DIR, emailFixtures } from './support/email-fixtures.js';
import { TestMailServer, toolText } from './support/mail-harness.js';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';

type Structured = { emails?: Array<{ id: string; subject: string; from: string; seen: boolean; snippet: string }>; unread?: number; email?: { text: string; subject: string } };
const structured = (r: Awaited<ReturnType<Client['callTool']>>) => r.structuredContent as Structured;

describe('mail MCP server: the seed\'s 7 tools over a real MCP connection', () => {
  let mail: TestMailServer;
  let client: Client;
  beforeAll(async () => {
    mail = await TestMailServer.start();
    client = await mail.client();
  });
  afterAll(async () => {
    await client.close();
    await mail.close();
  });

  it('lists the 7 tools with the seed\'s parameters and the annotations the approval gate relies on', async () => {
    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(Object.keys(byName).sort()).toEqual(['delete_email', 'get_email_count', 'list_emails', 'mark_as_read', 'read_email', 'search_emails', 'send_email']);
    expect(Object.keys(byName.send_email!.inputSchema.properties ?? {}).sort()).toEqual(['body', 'from', 'subject', 'to']);
    expect(Object.keys(byName.list_emails!.inputSchema.properties ?? {}).sort()).toEqual(['category', 'email', 'limit', 'priority', 'since', 'unread']);
    expect(Object.keys(byName.search_emails!.inputSchema.properties ?? {}).sort()).toEqual(['category', 'email', 'priority', 'query', 'since', 'unread']);
    expect(byName.read_email!.inputSchema.required?.sort()).toEqual(['email', 'email_id']);
    expect(byName.send_email!.annotations?.destructiveHint).toBe(true);
    expect(byName.delete_email!.annotations?.destructiveHint).toBe(true);
    for (const read of ['list_emails', 'read_email', 'search_emails', 'get_email_count']) expect(byName[read]!.annotations?.readOnlyHint).toBe(true);
    expect(byName.mark_as_read!.annotations?.destructiveHint).toBe(false);
  });

  it('send_email delivers to a local mailbox and keeps a copy in Sent; list/read/count/search/mark/delete work on it', async () => {
    const sent = await client.callTool({ name: 'send_email', arguments: { from: ALICE, to: BOB, subject: 'Réunion demain', body: 'On se voit à 15h pour le projet Zephyr.' } });
    expect(sent.isError).toBeFalsy();
    expect(toolText(sent)).toContain(`Email sent to ${BOB}`);
    // Our own sent mail is filed as already seen.
    expect(readdirSync(join(mail.root, ALICE, '.Sent', 'cur'))).toHaveLength(1);

    expect(structured(await client.callTool({ name: 'get_email_count', arguments: { email: BOB } })).unread).toBe(1);
    const list = await client.callTool({ name: 'list_emails', arguments: { email: BOB } });
    const [summary] = structured(list).emails!;
    expect(summary).toMatchObject({ subject: 'Réunion demain', from: ALICE, seen: false });
    expect(toolText(list)).toContain('[unread]');
    expect(toolText(list)).toContain(summary!.id);

    const read = await client.callTool({ name: 'read_email', arguments: { email: BOB, email_id: summary!.id } });
    expect(toolText(read)).toContain('Subject: Réunion demain');
    expect(toolText(read)).toContain('projet Zephyr');

    const found = await client.callTool({ name: 'search_emails', arguments: { email: BOB, query: 'zephyr' } });
    expect(structured(found).emails!.map((e) => e.id)).toEqual([summary!.id]);
    expect(structured(await client.callTool({ name: 'search_emails', arguments: { email: BOB, query: 'nothing-like-this' } })).emails).toEqual([]);

    await client.callTool({ name: 'mark_as_read', arguments: { email: BOB, email_id: summary!.id } });
    expect(structured(await client.callTool({ name: 'get_email_count', arguments: { email: BOB } })).unread).toBe(0);
    expect(readdirSync(join(mail.root, BOB, 'cur')).some((f) => f.endsWith(':2,S'))).toBe(true);

    const deleted = await client.callTool({ name: 'delete_email', arguments: { email: BOB, email_id: summary!.id } });
    expect(deleted.isError).toBeFalsy();
    expect(structured(await client.callTool({ name: 'list_emails', arguments: { email: BOB } })).emails).toEqual([]);
    expect(readdirSync(join(mail.root, BOB, '.Trash', 'cur'))).toHaveLength(1);
  });

  it('lists newest first and honours limit', async () => {
    for (const subject of ['one', 'two', 'three']) {
      await client.callTool({ name: 'send_email', arguments: { from: BOB, to: 'carol@example.com', subject, body: subject } });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const list = await client.callTool({ name: 'list_emails', arguments: { email: 'carol@example.com', limit: 2 } });
    expect(structured(list).emails!.map((e) => e.subject)).toEqual(['three', 'two']);
  });

  it.each([
    ['an unknown email id', 'read_email', { email: ALICE, email_id: '1700000000.M1P1Q1.nowhere' }, /No email with id/],
    ['a path traversal id', 'read_email', { email: ALICE, email_id: '../../../etc/passwd' }, /invalid|not a valid/i],
    ['an id with a slash', 'delete_email', { email: ALICE, email_id: 'new/x' }, /invalid|not a valid/i],
    ['an invalid mailbox address', 'list_emails', { email: '../../etc@x' }, /address/i],
    ['a non-local unknown user', 'list_emails', { email: 'nobody@elsewhere.org' }, /nobody@elsewhere.org/],
    ['an invalid recipient', 'send_email', { from: ALICE, to: 'not an address', subject: 's', body: 'b' }, /Invalid recipient/],
    ['an outside recipient without a relay', 'send_email', { from: ALICE, to: 'someone@gmail.com', subject: 's', body: 'b' }, /no SMTP relay/],
    ['a sender that is not local', 'send_email', { from: 'ceo@bigcorp.com', to: BOB, subject: 's', body: 'b' }, /not a mailbox on this server/],
  ])('refuses %s with a tool error saying what is wrong', async (_name, tool, args, message) => {
    const result = await client.callTool({ name: tool, arguments: args });
    expect(result.isError).toBe(true);
    expect(toolText(result)).toMatch(message);
  });

  it('refuses missing fields with a tool error, not a crash', async () => {
    const result = await client.callTool({ name: 'read_email', arguments: { email: ALICE } });
    expect(result.isError).toBe(true);
    expect(toolText(result)).toMatch(/email_id/);
  });

  it('never touches anything outside the Maildir root', async () => {
    await client.callTool({ name: 'delete_email', arguments: { email: ALICE, email_id: '..' } });
    await client.callTool({ name: 'read_email', arguments: { email: '../alice@example.com', email_id: 'x' } });
    expect(readdirSync(join(mail.root, '..')).sort()).toEqual(['maildir']);
  });

  it('serves /health and the seed\'s GET /mcp/tools', async () => {
    const base = mail.mcpUrl.replace(/\/mcp$/, '');
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'ok' });
    const listing = (await (await fetch(`${base}/mcp/tools`)).json()) as { tools: Array<{ name: string; inputSchema: { properties: object } }> };
    expect(listing.tools.map((t) => t.name)).toContain('send_email');
    expect(Object.keys(listing.tools.find((t) => t.name === 'read_email')!.inputSchema.properties)).toEqual(['email', 'email_id']);
  });
});

describe('mail MCP server access', () => {
  it('requires the bearer token when one is configured', async () => {
    const mail = await TestMailServer.start({ mail: { auth_token: 's3cret' } });
    try {
      await expect(mail.client()).rejects.toThrow();
      await expect(mail.client('wrong')).rejects.toThrow();
      expect((await fetch(mail.mcpUrl.replace(/\/mcp$/, '/mcp/tools'))).status).toBe(401);
      const client = await mail.client('s3cret');
      expect((await client.listTools()).tools).toHaveLength(7);
      await client.close();
    } finally {
      await mail.close();
    }
  });

  it('refuses to listen beyond loopback without a token', async () => {
    await expect(TestMailServer.start({ mail: { mcp_listen_addr: '0.0.0.0:0' } })).rejects.toThrow(/auth_token/);
  });

  it('serves the same tools over stdio (--stdio)', async () => {
    const mail = await TestMailServer.start();
    try {
      const client = new McpClient({ name: 'test', version: '1.0.0' });
      await client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: ['--import', 'tsx', 'src/mail/main.ts', '--stdio'],
          env: { ...(process.env as Record<string, string>), MAILDIR_ROOT: mail.root, AI_RUNTIME_DB_PATH: mail.dbPath, LOG_LEVEL: 'silent' },
        }),
      );
      await client.callTool({ name: 'send_email', arguments: { from: ALICE, to: BOB, subject: 'via stdio', body: 'hi' } });
      const list = await client.callTool({ name: 'list_emails', arguments: { email: BOB } });
      expect(structured(list).emails!.map((e) => e.subject)).toEqual(['via stdio']);
      await client.close();
    } finally {
      await mail.close();
    }
  });
});

describe('real-world mail over SMTP', () => {
  const FIXTURES = EMAIL_FIXTURES_DIR;
  const files = emailFixtures;

  it('delivers every fixture through SMTP intake; each is listed, read and searchable through the tools, none lost', async () => {
    expect(existsSync(FIXTURES)).toBe(true);
    const fixtures = files(FIXTURES);
    expect(fixtures.length).toBeGreaterThan(50);
    const mail = await TestMailServer.start();
    try {
      const smtp = mail.smtpTransport({ pool: true });
      for (const path of fixtures) await mail.sendSmtp({ from: 'fixtures@example.com', to: 'dave@example.com', raw: readFileSync(path) }, smtp);
      smtp.close();
      const client = await mail.client();
      const list = structured(await client.callTool({ name: 'list_emails', arguments: { email: 'dave@example.com', limit: 100 } })).emails!;
      expect(list).toHaveLength(fixtures.length);
      for (const summary of list) {
        expect(summary.subject.length).toBeGreaterThan(0);
        expect(summary.from.length).toBeGreaterThan(0);
        const read = await client.callTool({ name: 'read_email', arguments: { email: 'dave@example.com', email_id: summary.id } });
        expect(read.isError, toolText(read)).toBeFalsy();
        expect(toolText(read)).toContain(`Subject: ${summary.subject}`);
      }
      const japanese = list.find((e) => /[\u3040-\u30ff\u4e00-\u9faf]/.test(e.subject));
      expect(japanese, 'a Japanese subject decoded from its charset').toBeDefined();
      const search = await client.callTool({ name: 'search_emails', arguments: { email: 'dave@example.com', query: japanese!.subject.slice(0, 3) } });
      expect(structured(search).emails!.map((e) => e.id)).toContain(japanese!.id);
      await client.close();
    } finally {
      await mail.close();
    }
  });
});

describe('sending to outside addresses', () => {
  it('goes through the configured SMTP relay, and the sender keeps a copy in Sent', async () => {
    // The "outside world": another real SMTP server, for elsewhere.org.
    const outside = await TestMailServer.start({ mail: { local_domains: ['elsewhere.org'] } });
    const mail = await TestMailServer.start({ mail: { relay: { host: '127.0.0.1', port: outside.service.smtpPort } } });
    try {
      const client = await mail.client();
      const sent = await client.callTool({ name: 'send_email', arguments: { from: ALICE, to: 'zoe@elsewhere.org, bob@example.com', subject: 'Partout', body: 'Bonjour à tous' } });
      expect(sent.isError, toolText(sent)).toBeFalsy();
      expect(sent.structuredContent).toMatchObject({ relayed: ['zoe@elsewhere.org'], delivered_locally: ['bob@example.com'] });

      const remote = await outside.client();
      const zoe = structured(await remote.callTool({ name: 'list_emails', arguments: { email: 'zoe@elsewhere.org' } }));
      expect(zoe.emails!.map((e) => [e.from, e.subject])).toEqual([[ALICE, 'Partout']]);
      const bob = structured(await client.callTool({ name: 'list_emails', arguments: { email: BOB } }));
      expect(bob.emails!.map((e) => e.subject)).toEqual(['Partout']);
      expect(readdirSync(join(mail.root, ALICE, '.Sent', 'cur'))).toHaveLength(1);
      await Promise.all([client.close(), remote.close()]);
    } finally {
      await Promise.all([mail.close(), outside.close()]);
    }
  });
});
