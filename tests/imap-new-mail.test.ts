import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestDovecot } from './support/dovecot.js';
import { waitFor } from './support/mail-announcements.js';
import { TestMailServer, toolText } from './support/mail-harness.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, TestRuntime } from './support/runtime-harness.js';
import { WebhookReceiver } from './support/webhook-receiver.js';
import { summaryAnswer } from './support/triage-answers.js';
import { AccountSource, type MailAccount } from '../src/mail/accounts/mail-account.js';
import { ConnectionSlots } from '../src/mail/imap/connection-slots.js';
import { parseMailEndpoint } from '../src/mail/imap/mail-endpoint.js';
import { NewMailWatcher } from '../src/mail/imap/new-mail-watcher.js';
import { watchStates } from '../src/mail/imap/watch-state.js';
import type { StoredCopyRef } from '../src/mail/outbox/announcement-outbox.js';
import { createLogger } from '../src/logger.js';

const ALICE = 'alice@example.org';
const PASSWORD = 'alice-app-password';
const SECRET = 'imap-watch-secret';
/** Short backoffs, so that a test waits on conditions rather than on the real 1 s → 60 s. */
const FAST_ANNOUNCE = { minRetryDelayMs: 20, maxRetryDelayMs: 200 };
const FAST_WATCH = { minRetryDelayMs: 50, maxRetryDelayMs: 300 };

function mail(subject: string): string {
  return `From: Carol <carol@elsewhere.org>\r\nTo: ${ALICE}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@elsewhere.org>\r\n\r\nAbout ${subject}.\r\n`;
}

function account(dovecot: TestDovecot) {
  return { user: ALICE, imap_url: `imap://127.0.0.1:${dovecot.port}`, smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`, username: ALICE, password: PASSWORD };
}

interface AccountView {
  connected: boolean;
  watch?: { state: string; last_error?: string };
}

async function accountView(server: TestMailServer): Promise<AccountView> {
  return (await (await fetch(`http://127.0.0.1:${server.service.mcpPort}/accounts/${encodeURIComponent(ALICE)}`)).json()) as AccountView;
}

async function pending(server: TestMailServer): Promise<number | undefined> {
  const health = (await (await fetch(`http://127.0.0.1:${server.service.mcpPort}/health`)).json()) as { announcements?: { pending: number } };
  return health.announcements?.pending;
}

async function watching(server: TestMailServer): Promise<void> {
  await waitFor('the inbox is watched', async () => (await accountView(server)).watch?.state === 'watching');
}

describe('new mail in an IMAP account reaches the summary pipeline', () => {
  let dovecot: TestDovecot;
  const cleanups: Array<() => Promise<void> | void> = [];
  beforeAll(async () => {
    dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD } });
  });
  afterAll(() => dovecot?.close());
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    // Each test starts from an empty inbox and no watch state of an earlier test's mail server.
    rmSync(join(dovecot.mailRoot, ALICE), { recursive: true, force: true });
    if (!dovecot.running) await dovecot.restart();
  });

  async function receiver(): Promise<WebhookReceiver> {
    const r = new WebhookReceiver(SECRET);
    await r.listen();
    cleanups.push(() => r.close());
    return r;
  }

  /** A Maildir root that outlives one mail server: a restart finds its watch state and outbox. */
  function lastingRoot(): string {
    const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-imap-watch-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return join(dir, 'maildir');
  }

  async function server(webhook: WebhookReceiver, root?: string): Promise<TestMailServer> {
    const started = await TestMailServer.start({
      mail: { runtime_webhook_url: `http://127.0.0.1:${webhook.port}/api/webhooks/email`, accounts: [account(dovecot)] },
      webhooks: { secret: SECRET },
      announce: FAST_ANNOUNCE,
      watch: FAST_WATCH,
      ...(root ? { root } : {}),
    });
    cleanups.push(() => started.close());
    return started;
  }

  it('mail already there is not news; mail that arrives is announced once, with an IMAP id', async () => {
    await dovecot.deliver(ALICE, mail('Old news'));
    const webhook = await receiver();
    const server1 = await server(webhook);
    await watching(server1);
    await dovecot.deliver(ALICE, mail('Fresh one'));
    await waitFor('the new mail is announced', () => webhook.accepted.length === 1);
    const [announced] = webhook.accepted;
    expect(announced).toMatchObject({ user_email: ALICE, subject: 'Fresh one', from: expect.stringContaining('carol@elsewhere.org') });
    expect(announced!.email_id).toMatch(/^INBOX\.\d+\.\d+$/);
    expect(announced!.body).toContain('About Fresh one.');
    // The id reads the same message through the tools.
    const client = await server1.client();
    const read = await client.callTool({ name: 'read_email', arguments: { email: ALICE, email_id: announced!.email_id } });
    expect(toolText(read)).toContain('Subject: Fresh one');
    await client.close();
    await dovecot.deliver(ALICE, mail('Second one'));
    await waitFor('the second is announced', () => webhook.accepted.length === 2);
    expect(webhook.accepted.map((a) => a.subject)).toEqual(['Fresh one', 'Second one']);
  });

  it('a restart in between: mail that arrived while the mail server was down is announced, nothing old again', async () => {
    const webhook = await receiver();
    const root = lastingRoot();
    const first = await server(webhook, root);
    await watching(first);
    await dovecot.deliver(ALICE, mail('Before the stop'));
    await waitFor('announced', () => webhook.accepted.length === 1);
    // Settled, not only received: a close while the runtime's 2xx is on its way keeps the entry, and the next start
    // announces it again (at-least-once; the runtime's job id makes that harmless). This test is about the watcher.
    await waitFor('accepted and out of the outbox', async () => (await pending(first)) === 0);
    await first.close();
    await dovecot.deliver(ALICE, mail('While down 1'));
    await dovecot.deliver(ALICE, mail('While down 2'));
    const second = await server(webhook, root);
    await watching(second);
    await waitFor('both announced', () => webhook.accepted.length >= 3);
    await dovecot.deliver(ALICE, mail('After the restart'));
    await waitFor('all announced', () => webhook.accepted.length >= 4);
    await waitFor('nothing more to announce', async () => (await pending(second)) === 0);
    // Mail found in one catch-up is announced concurrently: its order is not kept, each is there once.
    expect(webhook.accepted.map((a) => a.subject).sort()).toEqual(['After the restart', 'Before the stop', 'While down 1', 'While down 2']);
  });

  it('the IMAP server goes away and comes back: tools say so meanwhile, the watcher reconnects and misses nothing', async () => {
    const webhook = await receiver();
    const server1 = await server(webhook);
    await watching(server1);
    const client = await server1.client();
    await dovecot.stop();
    // Dovecot ends an IDLE session about 10 s after its master stops: the watcher learns of it then.
    await waitFor('the watcher notices', async () => (await accountView(server1)).watch?.state === 'retrying', 40_000);
    const down = await client.callTool({ name: 'list_emails', arguments: { email: ALICE } });
    expect(down.isError).toBe(true);
    expect(toolText(down)).toMatch(/Cannot reach the IMAP server 127\.0\.0\.1:\d+|connection .* was lost/);
    await dovecot.restart();
    await dovecot.deliver(ALICE, mail('After the outage'));
    await watching(server1);
    await waitFor('announced after the outage', () => webhook.accepted.length === 1);
    expect(webhook.accepted[0]!.subject).toBe('After the outage');
    // The pool's backoff has passed by now: the tools work again.
    await waitFor('the tools work again', async () => !(await client.callTool({ name: 'list_emails', arguments: { email: ALICE } })).isError);
    await client.close();
  }, 60_000);

  it('mail that arrives while a reconnecting watcher catches up, after its SELECT and before its SEARCH, is announced', async () => {
    const root = lastingRoot();
    const { imap_url, smtp_url } = account(dovecot);
    const mailAccount: MailAccount = { user: ALICE, imapUrl: imap_url, smtpUrl: smtp_url, username: ALICE, password: PASSWORD, saveSent: false, imap: parseMailEndpoint(imap_url), smtp: parseMailEndpoint(smtp_url), source: AccountSource.Config };
    const announced: StoredCopyRef[] = [];
    const watcher = (states: ReturnType<typeof watchStates>): NewMailWatcher => {
      const started = new NewMailWatcher({
        account: mailAccount,
        slots: new ConnectionSlots(10),
        client: { maxMessageBytes: 1024 * 1024, allowPrivateHosts: true },
        states,
        announce: async (copies) => void announced.push(...copies),
        logger: createLogger('silent', 'test-watcher'),
        ...FAST_WATCH,
      });
      cleanups.push(() => started.stop());
      return started;
    };
    // A first connection records the high-water mark, as before an outage.
    const first = watcher(watchStates(root));
    await waitFor('the first watcher has checked', () => first.status().state === 'watching');
    await first.stop();
    // The next connection's catch-up reads the mark between its SELECT and its SEARCH: the mail arrives right then.
    // Dovecot answers that SEARCH from the messages the session knew before it, and tells of the new one with an
    // EXISTS that comes with the SEARCH's answer (or in the IDLE that follows), while the first check still runs.
    const racing = watchStates(root);
    const read = racing.read.bind(racing);
    let delivered = false;
    racing.read = async (key) => {
      if (!delivered) {
        delivered = true;
        await dovecot.deliver(ALICE, mail('During the catch-up'));
      }
      return read(key);
    };
    const second = watcher(racing);
    await waitFor('the second watcher has checked', () => second.status().state === 'watching');
    // Without that EXISTS it would wait for the 5-minute safety check.
    await waitFor('the mail is announced', () => announced.length === 1, 5_000);
    expect(announced[0]!.emailId).toMatch(/^INBOX\.\d+\.\d+$/);
  });

  it('a renumbered inbox (UIDVALIDITY changed) announces only what arrived since the last check', async () => {
    const webhook = await receiver();
    const root = lastingRoot();
    const first = await server(webhook, root);
    await watching(first);
    await dovecot.deliver(ALICE, mail('Seen before'));
    await waitFor('announced', () => webhook.accepted.length === 1);
    // Settled, not only received: a close while the runtime's 2xx is on its way keeps the entry, and the next start
    // announces it again (at-least-once; the runtime's job id makes that harmless). This test is about the watcher.
    await waitFor('accepted and out of the outbox', async () => (await pending(first)) === 0);
    await first.close();
    // Dovecot gives the mailbox a new UIDVALIDITY when its UID list is lost, as after a restore from backup.
    await dovecot.stop();
    for (const name of readdirSync(join(dovecot.mailRoot, ALICE)).filter((n) => n.startsWith('dovecot'))) rmSync(join(dovecot.mailRoot, ALICE, name), { force: true });
    await dovecot.restart();
    await dovecot.deliver(ALICE, mail('After the rebuild'));
    const second = await server(webhook, root);
    await watching(second);
    await waitFor('the new one is announced', () => webhook.accepted.length >= 2);
    expect(webhook.accepted.map((a) => a.subject)).toEqual(['Seen before', 'After the rebuild']);
    expect(webhook.accepted[1]!.email_id.split('.')[1]).not.toBe(webhook.accepted[0]!.email_id.split('.')[1]);
  });
});

describe('new IMAP mail while signed in (runtime, BullMQ on Redis, the mail server, Dovecot)', () => {
  it('pops up as email_notification on the user\'s socket, and on nobody else\'s', async () => {
    const dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD } });
    const redis = await TestRedis.start();
    let rt: TestRuntime | undefined;
    let server1: TestMailServer | undefined;
    try {
      rt = await TestRuntime.start({ mcp: false, redisUrl: redis.url });
      await rt.runtime.notificationsReady;
      server1 = await TestMailServer.start({
        mail: { runtime_webhook_url: `${rt.httpUrl}/api/webhooks/email`, accounts: [account(dovecot)] },
        webhooks: { secret: TEST_WEBHOOK_SECRET },
        announce: FAST_ANNOUNCE,
        watch: FAST_WATCH,
      });
      await watching(server1);
      const alice = await rt.client(ALICE);
      const bob = await rt.client('bob@example.org');
      rt.ollama.enqueue(summaryAnswer('Carol asks about the budget.'));
      await dovecot.deliver(ALICE, mail('Budget question'));
      const notification = await alice.next('email_notification');
      expect(notification).toMatchObject({ subject: 'Budget question', summary: 'Carol asks about the budget.', email_id: expect.stringMatching(/^INBOX\.\d+\.\d+$/) });
      expect(bob.messages.filter((m) => m.type === 'email_notification')).toEqual([]);
      await alice.close();
      await bob.close();
    } finally {
      await server1?.close();
      await rt?.close();
      await redis.close();
      await dovecot.close();
    }
  }, 60_000);
});

describe('new IMAP mail on a server without IDLE', () => {
  it('is found by polling with NOOP, as often as the watcher is told, not only by the 5-minute check', async () => {
    const dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD }, withoutIdle: true });
    const webhook = new WebhookReceiver(SECRET);
    let server1: TestMailServer | undefined;
    try {
      const probe = new ImapFlow({ host: '127.0.0.1', port: dovecot.port, secure: false, auth: { user: ALICE, pass: PASSWORD }, logger: false });
      await probe.connect();
      const idle = probe.capabilities.has('IDLE');
      await probe.logout();
      expect(idle).toBe(false);
      await webhook.listen();
      server1 = await TestMailServer.start({
        mail: { runtime_webhook_url: `http://127.0.0.1:${webhook.port}/api/webhooks/email`, accounts: [account(dovecot)] },
        webhooks: { secret: SECRET },
        announce: FAST_ANNOUNCE,
        // The safety check stays at its 5 minutes: only the NOOP poll can find the mail in time.
        watch: { ...FAST_WATCH, maxIdleMs: 300 },
      });
      await watching(server1);
      // The first poll comes right after the watcher's first check, and may find a mail delivered at once: the second
      // mail needs a later one.
      for (const [n, subject] of ['Found by a poll', 'Found by the next poll'].entries()) {
        await dovecot.deliver(ALICE, mail(subject));
        await waitFor(`mail ${n + 1} is announced`, () => webhook.accepted.length === n + 1, 5_000);
      }
      expect(webhook.accepted.map((a) => a.subject)).toEqual(['Found by a poll', 'Found by the next poll']);
    } finally {
      await server1?.close();
      await webhook.close();
      await dovecot.close();
    }
  });
});
