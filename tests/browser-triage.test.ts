import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { openDatabase } from '../src/storage/database.js';
import { SummaryStore } from '../src/storage/summary-store.js';
import type { WireTriage } from '../src/triage/triage.js';
import { lastAssistantMessage, openPage, sendChat, signInWithEmail } from './support/browser.js';
import { startBrowserStack, type BrowserStack } from './support/browser-stack.js';
import type { TestMailServer } from './support/mail-harness.js';
import { TEST_WEBHOOK_SECRET, type TestRuntime } from './support/runtime-harness.js';

let users = 0;
const someone = (name: string) => `${name}-${++users}-${Date.now()}@example.com`;

describe('triage in the chat UI (Chromium)', () => {
  let browser: Browser;
  let mail: TestMailServer;
  let rt: TestRuntime;
  let problems: string[];
  let stack: BrowserStack;
  beforeAll(async () => {
    stack = await startBrowserStack({});
    ({ browser, mail, rt } = stack);
  }, 30_000);
  afterAll(() => stack?.close());
  afterEach(() => {
    // No CSP violation, no uncaught error, no console error in any test.
    expect(problems).toEqual([]);
  });

  async function page(email: string): Promise<Page> {
    const opened = await openPage(browser, rt.httpUrl);
    problems = opened.problems;
    await signInWithEmail(opened.page, email);
    return opened.page;
  }

  /** A summarized mail as the pipeline stores it, with its triage; `minutesAgo` orders them. */
  async function summarized(user: string, emailId: string, fields: { from: string; subject: string; summary: string; minutesAgo: number } & WireTriage): Promise<void> {
    await new SummaryStore(rt.runtime.db).insert({
      userEmail: user,
      emailId,
      from: fields.from,
      subject: fields.subject,
      summary: fields.summary,
      model: 'test',
      createdAt: new Date(Date.now() - fields.minutesAgo * 60_000).toISOString(),
      triage: { category: fields.category, priority: fields.priority, needsReply: fields.needs_reply, reason: 'set by the test' },
    });
  }

  const inboxItem = (p: Page, emailId: string) => p.locator(`[data-testid=inbox-item][data-email-id="${emailId}"]`);
  const sectionOf = (p: Page, emailId: string) => p.evaluate<string>(`document.querySelector('[data-testid=inbox-item][data-email-id="${emailId}"]')?.closest('[data-section]')?.dataset.section ?? 'none'`);

  it('the priority inbox shows high first, plain mail next, and folds newsletters and spam away', async () => {
    const user = someone('inbox');
    await summarized(user, 'news.eml', { from: 'news@shop.example', subject: 'Weekly deals', summary: 'Deals.', minutesAgo: 1, category: 'newsletter', priority: 'low', needs_reply: false });
    await summarized(user, 'spam.eml', { from: 'prince@scam.example', subject: 'You won', summary: 'A prize.', minutesAgo: 2, category: 'spam', priority: 'low', needs_reply: false });
    await summarized(user, 'plain.eml', { from: 'colleague@example.com', subject: 'Notes', summary: 'Meeting notes.', minutesAgo: 3, category: 'work', priority: 'normal', needs_reply: false });
    await summarized(user, 'boss.eml', { from: 'boss@example.com', subject: 'Contract today', summary: 'Sign the contract today.', minutesAgo: 60, category: 'work', priority: 'high', needs_reply: true });
    const p = await page(user);

    const items = p.getByTestId('inbox-item');
    await expect.poll(() => items.count()).toBe(4);
    // Sign-in replays the three unseen notifications that are not spam; their toasts cover the side column.
    await expect.poll(() => p.getByTestId('notification').count()).toBe(3);
    while ((await p.getByTestId('toast').count()) > 0) await p.getByTestId('toast').first().locator('.dismiss').click();
    // The oldest mail comes first: it is the important one.
    expect(await items.first().getAttribute('data-email-id')).toBe('boss.eml');
    expect(await sectionOf(p, 'boss.eml')).toBe('important');
    expect(await sectionOf(p, 'plain.eml')).toBe('other');
    expect(await sectionOf(p, 'news.eml')).toBe('newsletters');
    expect(await sectionOf(p, 'spam.eml')).toBe('spam');
    const sections = await p.evaluate<string[]>(`[...document.querySelectorAll('[data-testid=inbox-section]')].map((s) => s.dataset.section)`);
    expect(sections).toEqual(['important', 'other', 'newsletters', 'spam']);
    // Folded: there, but out of sight until opened.
    expect(await inboxItem(p, 'spam.eml').isVisible()).toBe(false);
    expect(await inboxItem(p, 'news.eml').isVisible()).toBe(false);
    expect(await inboxItem(p, 'boss.eml').isVisible()).toBe(true);
    // Chips: the category, "Important", and the needs-reply mark.
    const boss = inboxItem(p, 'boss.eml');
    expect(await boss.getByTestId('category-chip').getAttribute('data-category')).toBe('work');
    expect(await boss.getByTestId('priority-chip').count()).toBe(1);
    expect(await boss.getByTestId('needs-reply').count()).toBe(1);
    expect(await inboxItem(p, 'plain.eml').getByTestId('needs-reply').count()).toBe(0);
    // Only spam offers "Not spam".
    await p.locator('[data-section=spam] > summary').click();
    expect(await inboxItem(p, 'spam.eml').getByTestId('not-spam').isVisible()).toBe(true);
    expect(await boss.getByTestId('not-spam').count()).toBe(0);
    await p.context().close();
  });

  it('"Not spam" moves the mail out of the spam section', async () => {
    const user = someone('notspam');
    await summarized(user, 'friend.eml', { from: 'old.friend@example.org', subject: 'Long time', summary: 'An old friend writes.', minutesAgo: 1, category: 'spam', priority: 'low', needs_reply: null });
    const p = await page(user);
    await expect.poll(() => p.getByTestId('inbox-item').count()).toBe(1);
    await p.locator('[data-section=spam] > summary').click();
    await inboxItem(p, 'friend.eml').getByTestId('not-spam').click();
    await expect.poll(() => sectionOf(p, 'friend.eml')).not.toBe('spam');
    await p.context().close();
  });

  it('a spam notification pops up no toast and is not listed as new mail, but lands in the inbox\'s spam section', async () => {
    const user = someone('spamtoast');
    const p = await page(user);
    // The inbox has loaded (empty) before the mail arrives: whatever shows up next came with the notification.
    await p.getByTestId('priority-inbox').locator('.empty-hint').waitFor();
    const emailId = `spam-${Date.now()}.eml`;
    const body = JSON.stringify({
      user_email: user,
      email_id: emailId,
      from: 'winner@lottery.example',
      subject: 'You won a million',
      body: 'Send your bank details to claim the prize.',
      headers: { 'x-spam-flag': 'YES', 'x-spam-status': 'Yes, score=15.2' },
    });
    const response = await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers: signWebhook(TEST_WEBHOOK_SECRET, body), body });
    expect(response.status).toBe(202);

    await inboxItem(p, emailId).waitFor({ state: 'attached', timeout: 15_000 });
    expect(await sectionOf(p, emailId)).toBe('spam');
    expect(await p.getByTestId('toast').count()).toBe(0);
    expect(await p.getByTestId('notification').count()).toBe(0);
    await p.context().close();
  });

  it('a picked reply draft opens the approval panel with it as the body; Approve sends it', async () => {
    const user = someone('replier');
    const colleague = someone('colleague');
    await mail.sendSmtp({ from: colleague, to: user, subject: 'Lunch on Thursday?', text: 'Are you free for lunch on Thursday?' });
    rt.ollama.enqueue({ toolCalls: [{ name: 'list_emails', arguments: {} }] }, { tokens: ['You have one email.'] });
    const p = await page(user);
    await sendChat(p, 'List my emails');
    await expect.poll(() => lastAssistantMessage(p).textContent()).toContain('You have one email.');
    const item = p.getByTestId('email-item').first();

    rt.ollama.enqueue({ tokens: [JSON.stringify({ drafts: ['Thursday works, see you at noon.', 'Sorry, I am busy on Thursday.'] })] });
    await item.getByTestId('suggest-replies').click();
    const drafts = item.getByTestId('reply-draft');
    await expect.poll(() => drafts.count()).toBe(2);
    expect(await drafts.first().textContent()).toContain('Thursday works, see you at noon.');

    await drafts.first().click();
    const approval = p.getByTestId('approval');
    await approval.waitFor();
    const shown = (await approval.textContent()) ?? '';
    expect(shown).toContain('Thursday works, see you at noon.');
    expect(shown).toContain('Re: Lunch on Thursday?');
    expect(shown).toContain(colleague);
    expect(shown).toContain(user);

    rt.ollama.enqueue({ tokens: ['Your reply is sent.'] });
    await p.getByTestId('approve').click();
    await expect.poll(() => lastAssistantMessage(p).textContent()).toContain('Your reply is sent.');
    const client = await mail.client();
    const inbox = (await client.callTool({ name: 'list_emails', arguments: { email: colleague } })).structuredContent as { emails: Array<{ from: string; subject: string }> };
    await client.close();
    expect(inbox.emails.map((e) => [e.from, e.subject])).toEqual([[user, 'Re: Lunch on Thursday?']]);
    await p.context().close();
  });

  it('email cards and new-mail toasts carry the triage chips', async () => {
    const user = someone('chips');
    await mail.sendSmtp({ from: 'billing@bank.example', to: user, subject: 'Your statement', text: 'Your monthly statement is ready.' });
    const client = await mail.client();
    const listed = (await client.callTool({ name: 'list_emails', arguments: { email: user } })).structuredContent as { emails: Array<{ id: string }> };
    await client.close();
    // Where the mail server reads triage from (the runtime's database in a deployment).
    const mailDb = openDatabase(parseConfig({ summarization: { db_path: mail.dbPath } }));
    await new SummaryStore(mailDb).insert({
      userEmail: user,
      emailId: listed.emails[0]!.id,
      from: 'billing@bank.example',
      subject: 'Your statement',
      summary: 'The statement is ready.',
      model: 'test',
      createdAt: new Date().toISOString(),
      triage: { category: 'finance', priority: 'high', needsReply: true, reason: 'set by the test' },
    });
    await mailDb.destroy();

    rt.ollama.enqueue({ toolCalls: [{ name: 'list_emails', arguments: {} }] }, { tokens: ['One statement.'] });
    const p = await page(user);
    await sendChat(p, 'List my emails');
    const card = p.getByTestId('email-card').first();
    await card.waitFor();
    expect(await card.getByTestId('category-chip').getAttribute('data-category')).toBe('finance');
    expect(await card.getByTestId('priority-chip').count()).toBe(1);
    expect(await card.getByTestId('needs-reply').count()).toBe(1);

    // The user's own rule decides the triage of the next mail from this sender: its toast says so.
    const rule = await fetch(`${rt.httpUrl}/api/triage/rules`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user-email': user },
      body: JSON.stringify({ from: '*@corp.example', category: 'work', priority: 'high' }),
    });
    expect(rule.status).toBe(201);
    const body = JSON.stringify({ user_email: user, email_id: `boss-${Date.now()}.eml`, from: 'boss@corp.example', subject: 'Budget', body: 'Send me the budget today.' });
    expect((await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers: signWebhook(TEST_WEBHOOK_SECRET, body), body })).status).toBe(202);
    const toast = p.getByTestId('toast');
    await toast.waitFor({ timeout: 15_000 });
    expect(await toast.getByTestId('category-chip').getAttribute('data-category')).toBe('work');
    expect(await toast.getByTestId('priority-chip').count()).toBe(1);
    await p.context().close();
  });

  it('"Important today" asks for list_emails with priority "high" since today', async () => {
    const p = await page(someone('important'));
    const before = rt.ollama.requests.length;
    rt.ollama.enqueue({ tokens: ['Nothing important today.'] });
    await p.locator('[data-testid=quick-action][data-action=important-today]').click();
    await rt.ollama.waitForRequests(before + 1);
    const asked = rt.ollama.requests[before]!.body.messages!.at(-1)!.content ?? '';
    expect(asked).toContain('list_emails');
    expect(asked).toContain('priority "high"');
    // The start of the user's own day, with their offset (the browser's zone is this machine's).
    const since = /since "([^"]+)"/.exec(asked)?.[1] ?? '';
    expect(since).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00[+-]\d{2}:\d{2}$/);
    const startOfDay = new Date();
    startOfDay.setHours(0, 0, 0, 0);
    expect(new Date(since).getTime()).toBe(startOfDay.getTime());
    await expect.poll(() => lastAssistantMessage(p).textContent()).toContain('Nothing important today.');
    await p.context().close();
  });

  it('the triage rules panel lists, adds and deletes the user\'s rules', async () => {
    const p = await page(someone('rules'));
    await p.getByTestId('rules-open').click();
    const panel = p.getByTestId('rules-panel');
    await panel.waitFor();
    await panel.getByTestId('rule-from').fill('*@bank.example');
    await panel.getByTestId('rule-category').selectOption('finance');
    await panel.getByTestId('rule-priority').selectOption('high');
    await panel.getByTestId('rule-add').click();
    const rule = panel.getByTestId('rule');
    await expect.poll(() => rule.count()).toBe(1);
    const text = (await rule.textContent()) ?? '';
    expect(text).toContain('*@bank.example');
    expect(text).toContain('Finance');

    await panel.getByTestId('rule-words').fill('Anything from my boss is high priority');
    await panel.getByTestId('rule-add').click();
    await expect.poll(() => rule.count()).toBe(2);

    await rule.first().getByTestId('rule-delete').click();
    await expect.poll(() => rule.count()).toBe(1);
    await p.keyboard.press('Escape');
    await p.context().close();
  });
});
