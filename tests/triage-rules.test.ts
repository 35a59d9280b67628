import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { webhookPayloadFrom } from '../src/mail/email-webhook.js';
import { triageFromHeaders } from '../src/triage/header-signals.js';
import { certainTriage } from '../src/triage/summarize-and-triage.js';
import { parseTriageAnswer, triageAnswerFormat } from '../src/triage/triage-prompt.js';
import { applyUserRules, TriageRuleInputSchema, type TriageRule } from '../src/triage/user-rules.js';

import { EMAIL_FIXTURES_DIR, emailFixtures } from './support/email-fixtures.js';

const THRESHOLD = 5;
const TRIAGE_FIXTURES_DIR = new URL('./fixtures/triage/', import.meta.url).pathname;
const rule = (fields: Partial<TriageRule>, at: string): TriageRule => ({ id: at, created_at: at, ...fields });

describe('certain signals in the headers', () => {
  it.each([
    [{ 'x-spam-flag': 'YES' }, 'spam'],
    [{ 'x-spam-status': 'Yes, score=12.0 required=5.0' }, 'spam'],
    [{ 'x-spam-score': '5' }, 'spam'],
    [{ 'x-rspamd-score': '9.81' }, 'spam'],
    [{ 'x-spam-level': '******' }, 'spam'],
    [{ 'list-unsubscribe': '<mailto:u@l.example>' }, 'newsletter'],
    [{ precedence: 'bulk' }, 'newsletter'],
    [{ precedence: 'junk' }, 'newsletter'],
    [{ 'auto-submitted': 'auto-generated (failure)' }, 'notification'],
  ] as const)('%o → %s', (headers, category) => {
    expect(triageFromHeaders('Someone <someone@example.org>', headers, THRESHOLD)?.category).toBe(category);
  });

  it('says nothing when nothing is certain: a filter that said no, a score under the threshold, a human reply', () => {
    for (const headers of [{ 'x-spam-status': 'No, score=-1.1 required=5.0' }, { 'x-spam-score': '4.9' }, { 'x-spam-level': '' }, { 'auto-submitted': 'no' }, { precedence: 'first-class' }, {}]) {
      expect(triageFromHeaders('Carol <carol@example.org>', headers, THRESHOLD)).toBeUndefined();
    }
  });

  it('spam beats the unsubscribe link, a bounce is a notification, and no-reply senders are notifications', () => {
    expect(triageFromHeaders('x@y.example', { 'x-spam-flag': 'YES', 'list-unsubscribe': '<u>' }, THRESHOLD)).toMatchObject({ category: 'spam', priority: 'low', needsReply: false });
    expect(triageFromHeaders('MAILER-DAEMON@mx.example', { 'auto-submitted': 'auto-replied' }, THRESHOLD)).toMatchObject({ category: 'notification', needsReply: false });
    expect(triageFromHeaders('GitHub <noreply@github.com>', {}, THRESHOLD)).toMatchObject({ category: 'notification' });
    expect(triageFromHeaders('Shop <do-not-reply+orders@shop.example>', {}, THRESHOLD)).toMatchObject({ category: 'notification' });
    expect(triageFromHeaders('Noreen <noreen@example.org>', {}, THRESHOLD)).toBeUndefined();
  });
});

describe("the user's rules", () => {
  const rules = [
    rule({ from: '*@acme.example', priority: 'normal', category: 'work' }, '2026-01-01T00:00:00.000Z'),
    rule({ from: 'boss@acme.example', priority: 'high' }, '2026-01-02T00:00:00.000Z'),
    rule({ subject: 'invoice*paid', category: 'finance', needs_reply: false }, '2026-01-03T00:00:00.000Z'),
    rule({ words: 'Zephyr is work' }, '2026-01-04T00:00:00.000Z'),
  ];

  it('the newest matching rule sets each field it names; older ones fill the rest; patterns are case-insensitive with *', () => {
    expect(applyUserRules(rules, { from: 'The Boss <BOSS@acme.example>', subject: 'Q3' }).decision).toMatchObject({ category: 'work', priority: 'high' });
    expect(applyUserRules(rules, { from: 'ann@acme.example', subject: 'Invoice 12 was PAID' }).decision).toMatchObject({ category: 'finance', priority: 'normal', needsReply: false });
    expect(applyUserRules(rules, { from: 'x@elsewhere.example', subject: 'hello' }).decision).toBeUndefined();
    // A pattern is text, not a regular expression.
    expect(applyUserRules([rule({ from: 'a.c', priority: 'low' }, 'r')], { from: 'abc', subject: '' }).decision).toBeUndefined();
    expect(applyUserRules(rules, { from: 'x@y', subject: '' }).words).toEqual(['Zephyr is work']);
  });

  it('a rule is patterns with an effect, or plain words, and bounded', () => {
    expect(TriageRuleInputSchema.safeParse({ from: 'boss@', priority: 'high' }).success).toBe(true);
    expect(TriageRuleInputSchema.safeParse({ words: 'anything from my boss is high' }).success).toBe(true);
    for (const bad of [{}, { from: 'boss@' }, { from: 'a', words: 'b' }, { from: 'a', priority: 'urgent' }, { words: 'x'.repeat(301) }, { from: 'a', priority: 'high', extra: 1 }]) {
      expect(TriageRuleInputSchema.safeParse(bad).success).toBe(false);
    }
  });

  it('"not spam" for a sender silences the spam headers, and a user rule beats the headers', () => {
    const notSpam = [rule({ from: 'dave@friends.example', not_spam: true }, 'r1')];
    const certain = certainTriage({ from: 'dave@friends.example', subject: 'hi', headers: { 'x-spam-flag': 'YES' } }, notSpam, { spamScoreThreshold: THRESHOLD });
    expect(certain).toMatchObject({ notSpam: true, decision: { reason: expect.stringContaining('not spam') } });
    expect(certain.decision.category).toBeUndefined();
    const high = [rule({ subject: 'digest', priority: 'high' }, 'r2')];
    expect(certainTriage({ from: 'n@news.example', subject: 'Weekly digest', headers: { 'list-unsubscribe': '<u>' } }, high, { spamScoreThreshold: THRESHOLD }).decision).toMatchObject({
      category: 'newsletter',
      priority: 'high',
      needsReply: false,
    });
  });
});

describe("the LLM's structured answer", () => {
  it('is checked against the schema it was asked for', () => {
    const good = JSON.stringify({ summary: 'Hi.', category: 'spam', priority: 'low', needs_reply: false });
    expect(parseTriageAnswer(good, true)).toMatchObject({ ok: true, answer: { category: 'spam' } });
    expect(parseTriageAnswer(good, false)).toMatchObject({ ok: false, problem: expect.stringContaining('category') });
    expect(parseTriageAnswer('{"summary": "cut', true)).toEqual({ ok: false, problem: 'not JSON (16 characters)' });
    expect(parseTriageAnswer(JSON.stringify({ summary: 'x', category: 'work', priority: 'high' }), true)).toMatchObject({ ok: false, problem: expect.stringContaining('needs_reply') });
    const format = triageAnswerFormat(false);
    expect(format.name).toBe('email_triage');
    expect(JSON.stringify(format.schema)).not.toContain('"spam"');
  });
});

describe('real-world mail classified by the rules alone (headers as the mail server announces them)', () => {
  /** Every fixture the headers decide, and what they decide; every other fixture is left to the LLM. */
  const EXPECTED: Record<string, [category: string, priority: string | undefined]> = {
    'error_emails/bad_date_header.eml': ['newsletter', 'low'], // Precedence: junk
    'error_emails/empty_group_lists.eml': ['spam', 'low'], // X-Spam-Status: Yes
    'error_emails/encoding_madness.eml': ['notification', undefined], // no-reply@
    'mime_emails/raw_email_with_mimepart_without_content_type.eml': ['notification', undefined], // Auto-Submitted
    'multipart_report_emails/multi_address_bounce1.eml': ['notification', undefined], // a bounce: auto-replied
    'multipart_report_emails/multipart_report_multiple_status.eml': ['notification', undefined], // postmaster@
    'multipart_report_emails/report_422.eml': ['notification', undefined],
    'multipart_report_emails/report_530.eml': ['notification', undefined],
    'plain_emails/raw_email_bad_time.eml': ['spam', 'low'],
    'plain_emails/raw_email_trailing_dot.eml': ['notification', undefined], // noreply@
    'triage/auto-reply.eml': ['notification', undefined],
    'triage/newsletter.eml': ['newsletter', 'low'], // List-Unsubscribe
    'triage/rspamd-scored.eml': ['spam', 'low'],
    'triage/spam-flagged.eml': ['spam', 'low'],
  };

  it('newsletters, bounces and spam-flagged mail get their category without the LLM; the rest is left open', async () => {
    const files = [...emailFixtures(), ...emailFixtures(TRIAGE_FIXTURES_DIR)];
    const decided: Record<string, [string, string | undefined]> = {};
    for (const file of files) {
      const name = file.startsWith(TRIAGE_FIXTURES_DIR) ? `triage/${relative(TRIAGE_FIXTURES_DIR, file)}` : relative(EMAIL_FIXTURES_DIR, file);
      const { decision } = certainTriage(await webhookPayloadFrom('alice@example.com', name, readFileSync(file)), [], { spamScoreThreshold: THRESHOLD });
      if (decision.category !== undefined) decided[name] = [decision.category, decision.priority];
    }
    expect(files.length).toBeGreaterThan(80);
    expect(decided).toEqual(EXPECTED);
  });
});
