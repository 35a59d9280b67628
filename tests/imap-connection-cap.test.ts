import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDovecot } from './support/dovecot.js';
import { captureLogs } from './support/log-capture.js';
import { TestMailServer, toolText } from './support/mail-harness.js';
import { WebhookReceiver } from './support/webhook-receiver.js';

const USERS = { 'alice@example.org': 'a-pw', 'bob@example.org': 'b-pw', 'carol@example.org': 'c-pw' };

async function watchOf(mail: TestMailServer, user: string): Promise<{ state: string } | undefined> {
  const response = await fetch(`http://127.0.0.1:${mail.service.mcpPort}/accounts/${encodeURIComponent(user)}`);
  return ((await response.json()) as { watch?: { state: string } }).watch;
}

describe('IMAP connections under the global cap', () => {
  let dovecot: TestDovecot;
  beforeAll(async () => {
    dovecot = await TestDovecot.start({ users: USERS });
  });
  afterAll(() => dovecot?.close());

  it('an idle pooled connection of one account gives its slot to a call of another at once', async () => {
    const accounts = Object.entries(USERS).map(([user, password]) => ({
      user,
      imap_url: `imap://127.0.0.1:${dovecot.port}`,
      smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`,
      username: user,
      password,
    }));
    const mail = await TestMailServer.start({ mail: { accounts, imap_max_connections: 2 } });
    try {
      const client = await mail.client();
      // Alice's and Bob's calls leave a connection each, idle in their pools: the cap is reached.
      for (const user of ['alice@example.org', 'bob@example.org']) expect((await client.callTool({ name: 'get_email_count', arguments: { email: user } })).isError).toBeFalsy();
      const started = Date.now();
      const carol = await client.callTool({ name: 'get_email_count', arguments: { email: 'carol@example.org' } });
      expect(carol.isError, toolText(carol)).toBeFalsy();
      // Without reclaiming, Carol's call would wait the 10 s for a slot and fail.
      expect(Date.now() - started).toBeLessThan(5_000);
      await client.close();
    } finally {
      await mail.close();
    }
  });

  it('with as many watched accounts as the cap, watchers leave a slot to the tools: a tool call still succeeds at once', async () => {
    const webhook = new WebhookReceiver('cap-secret');
    await webhook.listen();
    const two = Object.entries(USERS).slice(0, 2);
    const accounts = two.map(([user, password]) => ({
      user,
      imap_url: `imap://127.0.0.1:${dovecot.port}`,
      smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`,
      username: user,
      password,
    }));
    const logs = captureLogs('warn');
    let mail: TestMailServer | undefined;
    try {
      mail = await TestMailServer.start({
        mail: { runtime_webhook_url: `http://127.0.0.1:${webhook.port}/api/webhooks/email`, accounts, imap_max_connections: 2 },
        webhooks: { secret: 'cap-secret' },
        logger: logs.logger,
      });
      const server = mail;
      const states = () => Promise.all(two.map(async ([user]) => (await watchOf(server, user))?.state));
      // One watches; the other waits for a slot that the watchers' share (2 − a tenth rounded up) does not have.
      await expect.poll(states).toEqual(expect.arrayContaining(['watching', 'connecting']));
      const client = await mail.client();
      for (const [user] of two) {
        const started = Date.now();
        const count = await client.callTool({ name: 'get_email_count', arguments: { email: user } });
        expect(count.isError, toolText(count)).toBeFalsy();
        // A call that had to wait for a watcher's slot would fail after 10 s.
        expect(Date.now() - started).toBeLessThan(5_000);
      }
      // Still so after the calls: the slot they used is not taken by the waiting watcher.
      expect((await states()).sort()).toEqual(['connecting', 'watching']);
      expect(logs.lines.filter((l) => l.msg.startsWith('More accounts than watcher connections'))).toMatchObject([{ accounts: 2, watchers: 1 }]);
      await client.close();
    } finally {
      await mail?.close();
      await webhook.close();
    }
  });

  it('a mail server stopped while its watcher is still connecting (a server that never greets) stops at once', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const webhook = new WebhookReceiver('cap-secret');
    await webhook.listen();
    try {
      const mail = await TestMailServer.start({
        mail: {
          runtime_webhook_url: `http://127.0.0.1:${webhook.port}/api/webhooks/email`,
          accounts: [{ user: 'dave@example.org', imap_url: `imap://127.0.0.1:${port}`, smtp_url: `smtp://127.0.0.1:${port}`, username: 'dave', password: 'pw' }],
        },
        webhooks: { secret: 'cap-secret' },
      });
      await expect.poll(() => sockets.size).toBeGreaterThan(0);
      const started = Date.now();
      await mail.close();
      // imapflow would wait 15 s for the greeting.
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
      await webhook.close();
    }
  });
});
