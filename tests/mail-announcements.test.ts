import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from './support/embedded-config.js';
import { DEADLINE_MS, outboxEntries, sendMail, waitFor } from './support/mail-announcements.js';
import { TestMailServer } from './support/mail-harness.js';
import { WebhookReceiver } from './support/webhook-receiver.js';

const SECRET = 'announcement-test-secret';
/** Short retries, so that a test waits on conditions rather than on the real 1 s → 60 s backoff. */
const FAST = { minRetryDelayMs: 20, maxRetryDelayMs: 200 };
interface Health {
  status: string;
  announcements?: { pending: number; retrying: boolean; last_error?: string };
}

async function health(mail: TestMailServer): Promise<Health> {
  return (await (await fetch(`http://127.0.0.1:${mail.service.mcpPort}/health`)).json()) as Health;
}

/**
 * Empty on disk, and the mail server says nothing is pending or failing. Both are waited for: the entry's unlink can be
 * seen here a moment before the mail server's own bookkeeping runs.
 */
async function drained(mail: TestMailServer): Promise<void> {
  await waitFor('the outbox is empty', () => outboxEntries(mail.root).length === 0);
  await waitFor('nothing is pending', async () => (await health(mail)).announcements?.pending === 0);
  expect((await health(mail)).announcements).toEqual({ pending: 0, retrying: false });
}

describe('announcing stored mail to the runtime (outbox beside the Maildir)', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function receiverOn(port: number, secret = SECRET): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(secret);
    cleanups.push(() => receiver.close());
    if (port) await receiver.listen(port);
    return receiver;
  }

  async function mailServer(webhookPort: number, root?: string): Promise<TestMailServer> {
    const mail = await TestMailServer.start({
      mail: { runtime_webhook_url: `http://127.0.0.1:${webhookPort}/api/webhooks/email`, local_domains: ['local.test'], ...(root ? { maildir_root: root } : {}) },
      webhooks: { secret: SECRET },
      announce: FAST,
    });
    cleanups.push(() => mail.close());
    return mail;
  }

  it('answers 250 while the runtime hangs or is down, and announces the mail once it is back; the entry is then removed', async () => {
    const port = await freePort();
    const receiver = await receiverOn(port);
    receiver.hang = true;
    const mail = await mailServer(port);

    const [id] = await sendMail(mail.service.smtpPort, 'ann@local.test', 'Quarterly numbers');
    // The 250 came while the announcement is still unanswered: SMTP no longer waits on the webhook.
    await waitFor('the announcement is held by the receiver', () => receiver.holding > 0);
    expect(receiver.accepted).toEqual([]);
    expect(outboxEntries(mail.root)).toHaveLength(1);

    // Now nothing listens at all.
    await receiver.close();
    await waitFor('the mail server reports retrying', async () => (await health(mail)).announcements?.retrying === true);
    expect((await health(mail)).announcements).toMatchObject({ pending: 1, retrying: true });

    receiver.hang = false;
    await receiver.listen(port);
    await waitFor('the mail is announced', () => receiver.accepted.length > 0);
    expect(receiver.accepted).toEqual([expect.objectContaining({ user_email: 'ann@local.test', email_id: id, subject: 'Quarterly numbers', from: 'bob@out.example' })]);
    await drained(mail);
    expect(receiver.accepted).toHaveLength(1);
  });

  it('a runtime answering 401 (it restarted with another secret) is tried again, and the mail is announced once the secrets agree', async () => {
    const port = await freePort();
    const receiver = await receiverOn(port, 'the-runtime-has-another-secret');
    const mail = await mailServer(port);

    const ids = await sendMail(mail.service.smtpPort, ['ann@local.test', 'cy@local.test'], 'Signed twice');
    expect(ids).toHaveLength(2);
    await waitFor('an announcement was refused twice', () => [...receiver.refusedById.values()].some((count) => count >= 2));
    expect((await health(mail)).announcements).toMatchObject({ pending: 2, retrying: true, last_error: expect.stringContaining('HTTP 401') });

    receiver.secret = SECRET;
    await waitFor('both copies are announced', () => receiver.accepted.length >= 2);
    expect(receiver.accepted.map((p) => [p.user_email, p.email_id]).sort()).toEqual([
      ['ann@local.test', ids[0]],
      ['cy@local.test', ids[1]],
    ]);
    await drained(mail);
  });

  it('a 503 is retried too; a 400 (the payload itself is invalid) drops the announcement', async () => {
    const port = await freePort();
    const receiver = await receiverOn(port);
    receiver.status = 503;
    const mail = await mailServer(port);
    const [kept] = await sendMail(mail.service.smtpPort, 'ann@local.test', 'Kept');
    await waitFor('the mail server reports retrying', async () => (await health(mail)).announcements?.last_error === 'HTTP 503');
    receiver.status = undefined;
    await waitFor('the mail is announced', () => receiver.accepted.some((p) => p.email_id === kept));

    receiver.status = 400;
    await sendMail(mail.service.smtpPort, 'ann@local.test', 'Refused');
    await drained(mail);
  });

  it('one announcement the runtime keeps failing on (500) does not hold up the others, and goes once it is taken', async () => {
    const port = await freePort();
    const receiver = await receiverOn(port);
    const mail = await mailServer(port);
    // Its id is known only once it is stored: fail everything, then let the others through.
    receiver.status = 500;
    const [stuck] = await sendMail(mail.service.smtpPort, 'ann@local.test', 'Stuck');
    receiver.failFor.add(stuck!);
    receiver.status = undefined;
    await waitFor('the stuck one failed again', () => (receiver.failedById.get(stuck!) ?? 0) >= 1);

    const later: string[] = [];
    for (let i = 0; i < 3; i++) later.push(...(await sendMail(mail.service.smtpPort, 'ann@local.test', `Later ${i}`)));
    await waitFor('the later mail is announced', () => later.every((id) => receiver.accepted.some((p) => p.email_id === id)));
    expect(receiver.accepted.map((p) => p.email_id)).not.toContain(stuck);
    await waitFor('only the stuck one is pending', async () => (await health(mail)).announcements?.pending === 1);
    await waitFor('the stuck one is tried again', () => (receiver.failedById.get(stuck!) ?? 0) >= 3);

    receiver.failFor.delete(stuck!);
    await waitFor('the stuck one is announced', () => receiver.accepted.some((p) => p.email_id === stuck));
    await drained(mail);
  });

  it('a backlog is announced a few at a time once the runtime is back (bounded concurrency)', async () => {
    const port = await freePort();
    const receiver = await receiverOn(0);
    const mail = await TestMailServer.start({
      mail: { runtime_webhook_url: `http://127.0.0.1:${port}/api/webhooks/email`, local_domains: ['local.test'] },
      webhooks: { secret: SECRET },
      announce: { ...FAST, concurrency: 2 },
    });
    cleanups.push(() => mail.close());
    const recipients = Array.from({ length: 30 }, (_, i) => `user${i}@local.test`);
    const ids = await sendMail(mail.service.smtpPort, recipients, 'To many');
    await waitFor('the mail server reports retrying', async () => (await health(mail)).announcements?.retrying === true);
    expect((await health(mail)).announcements).toMatchObject({ pending: 30 });

    receiver.delayMs = 50;
    await receiver.listen(port);
    await waitFor('every copy is announced', () => receiver.accepted.length >= 30);
    expect(receiver.accepted.map((p) => p.email_id).sort()).toEqual([...ids].sort());
    expect(receiver.maxConcurrent).toBeLessThanOrEqual(2);
    await drained(mail);
  });

  it('mail deleted before it could be announced is dropped, not announced', async () => {
    const port = await freePort();
    const receiver = await receiverOn(port);
    receiver.hang = true;
    const mail = await mailServer(port);
    const [id] = await sendMail(mail.service.smtpPort, 'ann@local.test', 'Deleted soon');
    // Its first try is held: every later one reads the Maildir after the delete.
    await waitFor('the announcement is held by the receiver', () => receiver.holding > 0);
    await mail.service.store.delete('ann@local.test', id!);
    await receiver.close();
    receiver.hang = false;
    await receiver.listen(port);
    await waitFor('the outbox is empty', () => outboxEntries(mail.root).length === 0);
    // The next mail goes through, so the deleted one had its turns.
    const [next] = await sendMail(mail.service.smtpPort, 'ann@local.test', 'Kept');
    await waitFor('the next mail is announced', () => receiver.accepted.length > 0);
    await drained(mail);
    expect(receiver.accepted.map((p) => p.email_id)).toEqual([next]);
  });

  it('close() stops at once, twice, and leaves pending announcements for the next start, which announces them', async () => {
    const port = await freePort();
    const receiver = await receiverOn(port);
    receiver.hang = true;
    const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-outbox-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const root = join(dir, 'maildir');
    const first = await mailServer(port, root);
    const [id] = await sendMail(first.service.smtpPort, 'ann@local.test', 'Across a restart');
    await waitFor('the announcement is held by the receiver', () => receiver.holding > 0);
    const started = Date.now();
    await Promise.all([first.service.close(), first.service.close()]);
    // Far below the 5 s a held request would take to time out: close() abandoned it.
    expect(Date.now() - started).toBeLessThan(4_000);
    await waitFor('the held request is cut off', () => receiver.holding === 0);
    expect(outboxEntries(root)).toHaveLength(1);

    receiver.hang = false;
    const second = await mailServer(port, root);
    await waitFor('the mail is announced after the restart', () => receiver.accepted.length > 0);
    expect(receiver.accepted.map((p) => p.email_id)).toEqual([id]);
    await drained(second);
  });
});
