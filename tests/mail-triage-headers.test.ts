import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EmailWebhookPayloadSchema, MAX_TRIAGE_HEADER_CHARS, TRIAGE_HEADERS, webhookPayloadFrom, type EmailWebhookPayload } from '../src/mail/email-webhook.js';
import { TestDovecot } from './support/dovecot.js';
import { EMAIL_FIXTURES_DIR, emailFixtures } from './support/email-fixtures.js';
import { waitFor } from './support/mail-announcements.js';
import { TestMailServer } from './support/mail-harness.js';
import { WebhookReceiver } from './support/webhook-receiver.js';

/** The small hand-written messages for what the real-world set lacks (spam flag and scores, a newsletter, an auto-reply). */
const TRIAGE_FIXTURES_DIR = new URL('./fixtures/triage/', import.meta.url).pathname;
const triageFixture = (name: string): Buffer => readFileSync(`${TRIAGE_FIXTURES_DIR}${name}`);

/**
 * Every real-world fixture whose own header block has one of the triage headers, with what the announcement must
 * carry: read off the files by hand. Every other fixture must carry none (a `List-Unsubscribe` inside an attached
 * message, as in multipart_report_multiple_status.eml, is not the mail's own).
 */
const EXPECTED_IN_REAL_WORLD: Record<string, EmailWebhookPayload['headers']> = {
  'error_emails/empty_in_reply_to.eml': { 'list-id': 'abuser@rg.com Mailing List' },
  'error_emails/empty_group_lists.eml': { 'x-spam-status': 'Yes' },
  'error_emails/trademark_character_in_subject.eml': {
    // Present but empty: SpamAssassin's "no stars", which is a verdict too.
    'x-spam-level': '',
    'x-spam-status': 'No, score=-1.1 required=5.0 tests=BAYES_00,DATE_IN_PAST_03_06, FORGED_YAHOO_RCVD,INVALID_DATE,NO_RELAYS,SUBJECT_NEEDS_ENCODING shortcircuit=no autolearn=no version=3.2.5',
  },
  'error_emails/bad_date_header.eml': { precedence: 'junk' },
  'mime_emails/raw_email_with_mimepart_without_content_type.eml': { 'auto-submitted': 'auto-generated (warning-timeout)' },
  'multipart_report_emails/report_422.eml': { 'auto-submitted': 'auto-generated (warning-timeout)', 'x-spam-status': 'No' },
  'multipart_report_emails/report_530.eml': { 'auto-submitted': 'auto-generated (failure)', 'x-spam-status': 'No' },
  'multipart_report_emails/multi_address_bounce1.eml': { 'auto-submitted': 'auto-replied' },
  'plain_emails/raw_email_bad_time.eml': { 'x-spam-status': 'Yes' },
};

describe('announcements carry the headers triage reads', () => {
  it('every real-world fixture: exactly the triage headers of its own header block, as literal text', async () => {
    const fixtures = emailFixtures();
    expect(fixtures.length).toBeGreaterThan(50);
    const seen: string[] = [];
    for (const path of fixtures) {
      const name = relative(EMAIL_FIXTURES_DIR, path);
      const payload = await webhookPayloadFrom('dave@example.com', 'id-1', readFileSync(path));
      expect(EmailWebhookPayloadSchema.safeParse(payload).success, name).toBe(true);
      expect(payload.headers, name).toEqual(EXPECTED_IN_REAL_WORLD[name]);
      if (payload.headers) seen.push(name);
    }
    expect(seen.sort()).toEqual(Object.keys(EXPECTED_IN_REAL_WORLD).sort());
  });

  it('a spam filter\'s verdict: flag, score, level and status (unfolded); of a repeated header the first', async () => {
    const { headers } = await webhookPayloadFrom('dave@example.com', 'id-1', triageFixture('spam-flagged.eml'));
    expect(headers).toEqual({
      'x-spam-flag': 'YES',
      'x-spam-score': '8.4',
      'x-spam-level': '********',
      'x-spam-status': 'Yes, score=8.4 required=5.0 tests=FREEMAIL_FROM,HTML_MESSAGE, URIBL_BLACK autolearn=no version=3.4.6',
    });
    expect((await webhookPayloadFrom('dave@example.com', 'id-2', triageFixture('rspamd-scored.eml'))).headers).toEqual({
      'x-rspamd-score': '12.75',
      'x-spam-status': 'Yes, score=12.75',
    });
  });

  it('a newsletter\'s List-* and Precedence as written (not mailparser\'s objects); an auto-reply\'s markers', async () => {
    expect((await webhookPayloadFrom('dave@example.com', 'id-1', triageFixture('newsletter.eml'))).headers).toEqual({
      'list-id': '"Gardening =?utf-8?q?Caf=C3=A9?=" <gardening.news.example>',
      'list-unsubscribe': '<https://news.example/unsubscribe?u=42&l=gardening>, <mailto:unsubscribe-42@news.example?subject=unsubscribe>',
      precedence: 'bulk',
    });
    expect((await webhookPayloadFrom('dave@example.com', 'id-2', triageFixture('auto-reply.eml'))).headers).toEqual({
      'auto-submitted': 'auto-replied',
      'x-auto-response-suppress': 'All',
    });
  });

  it('UTF-8 in a header (RFC 6532) is decoded; a huge value is cut to the cap; a mail without any has no `headers`', async () => {
    const raw = Buffer.concat([
      Buffer.from('From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\nList-Id: Café des amis <cafe.example>\r\n', 'utf8'),
      Buffer.from(`X-Spam-Status: Yes, tests=${'X'.repeat(5_000)}\r\n\r\nbody\r\n`, 'utf8'),
    ]);
    const payload = await webhookPayloadFrom('b@example.com', 'id-1', raw);
    expect(payload.headers?.['list-id']).toBe('Café des amis <cafe.example>');
    expect(payload.headers?.['x-spam-status']).toHaveLength(MAX_TRIAGE_HEADER_CHARS);
    expect(EmailWebhookPayloadSchema.safeParse(payload).success).toBe(true);
    const plain = await webhookPayloadFrom('b@example.com', 'id-2', Buffer.from('From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n'));
    expect(plain).not.toHaveProperty('headers');
  });

  it('only the listed headers travel', async () => {
    const { headers } = await webhookPayloadFrom('dave@example.com', 'id-1', triageFixture('newsletter.eml'));
    for (const name of Object.keys(headers ?? {})) expect(TRIAGE_HEADERS).toContain(name);
    // List-Unsubscribe-Post is in the fixture but not a triage header.
    expect(headers).not.toHaveProperty('list-unsubscribe-post');
  });
});

const SECRET = 'triage-headers-secret';
const FAST_ANNOUNCE = { minRetryDelayMs: 20, maxRetryDelayMs: 200 };

describe('every path that announces mail sends them', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function receiver(): Promise<WebhookReceiver> {
    const webhook = new WebhookReceiver(SECRET);
    await webhook.listen();
    cleanups.push(() => webhook.close());
    return webhook;
  }

  it('SMTP intake → outbox → announcer', async () => {
    const webhook = await receiver();
    const mail = await TestMailServer.start({
      mail: { runtime_webhook_url: `http://127.0.0.1:${webhook.port}/api/webhooks/email` },
      webhooks: { secret: SECRET },
      announce: FAST_ANNOUNCE,
    });
    cleanups.push(() => mail.close());
    await mail.sendSmtp({ from: 'promo@deals.example', to: 'dave@example.com', raw: triageFixture('spam-flagged.eml') });
    await mail.sendSmtp({ from: 'a@example.com', to: 'dave@example.com', subject: 'Plain', text: 'Nothing special.' });
    await waitFor('both are announced', () => webhook.accepted.length === 2);
    const bySubject = new Map(webhook.accepted.map((a) => [a.subject, a]));
    expect(bySubject.get('You have WON a prize')?.headers).toMatchObject({ 'x-spam-flag': 'YES', 'x-spam-score': '8.4' });
    expect(bySubject.get('Plain')).not.toHaveProperty('headers');
  });

  describe('the IMAP new-mail watcher', () => {
    const ALICE = 'alice@example.org';
    const PASSWORD = 'alice-app-password';
    let dovecot: TestDovecot;
    beforeAll(async () => {
      dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD } });
    });
    afterAll(() => dovecot?.close());

    it('announces a newsletter arriving in the account with its List-* headers', async () => {
      const webhook = await receiver();
      const mail = await TestMailServer.start({
        mail: {
          runtime_webhook_url: `http://127.0.0.1:${webhook.port}/api/webhooks/email`,
          accounts: [{ user: ALICE, imap_url: `imap://127.0.0.1:${dovecot.port}`, smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`, username: ALICE, password: PASSWORD }],
        },
        webhooks: { secret: SECRET },
        announce: FAST_ANNOUNCE,
        watch: { minRetryDelayMs: 50, maxRetryDelayMs: 300 },
      });
      cleanups.push(() => mail.close());
      await waitFor('the inbox is watched', async () => {
        const view = (await (await fetch(`http://127.0.0.1:${mail.service.mcpPort}/accounts/${encodeURIComponent(ALICE)}`)).json()) as { watch?: { state: string } };
        return view.watch?.state === 'watching';
      });
      await dovecot.deliver(ALICE, triageFixture('newsletter.eml'));
      await waitFor('the newsletter is announced', () => webhook.accepted.length === 1);
      const [announced] = webhook.accepted;
      expect(announced!.email_id).toMatch(/^INBOX\.\d+\.\d+$/);
      expect(announced!.headers).toEqual({
        'list-id': '"Gardening =?utf-8?q?Caf=C3=A9?=" <gardening.news.example>',
        'list-unsubscribe': '<https://news.example/unsubscribe?u=42&l=gardening>, <mailto:unsubscribe-42@news.example?subject=unsubscribe>',
        precedence: 'bulk',
      });
    }, 60_000);
  });
});
