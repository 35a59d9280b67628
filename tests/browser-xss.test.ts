import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { SummaryStore, UNTRIAGED } from '../src/storage/summary-store.js';
import { lastAssistantMessage, sendChat, signInWithEmail } from './support/browser.js';
import { startBrowserStack, type BrowserStack } from './support/browser-stack.js';
import type { TestMailServer } from './support/mail-harness.js';
import { TEST_WEBHOOK_SECRET, type TestRuntime } from './support/runtime-harness.js';
import { summaryAnswer } from './support/triage-answers.js';

const ADMIN_TOKEN = 'xss-admin-token-at-least-32-chars';

/**
 * Markup that runs if it is ever parsed as HTML. Each payload sets its own number, so a failure says which one ran.
 * Not an `<img>` from the page itself: the chat and inspector pages have none, nor any inline script.
 */
const payload = (n: number) => ({
  img: `<img src=x onerror="window.__xss=${n}">`,
  script: `<script>window.__xss=${n + 1}</script>`,
});

/** Elements or attributes that only exist on the page if server data was parsed as HTML. */
const INJECTED = 'img, script:not([src]), iframe, [onerror], [onload]';

// Strings, not functions, so that the Node-side type-check needs no DOM types.
const xssFlag = (page: Page) => page.evaluate<string>('String(window.__xss)');
const injectedCount = (page: Page) => page.evaluate<number>(`document.querySelectorAll(${JSON.stringify(INJECTED)}).length`);

async function expectNothingRan(page: Page): Promise<void> {
  // An onerror handler runs once the image fails to load: give it that moment before looking.
  await page.waitForTimeout(200);
  expect(await xssFlag(page)).toBe('undefined');
  expect(await injectedCount(page)).toBe(0);
}

describe('LLM output and mail are shown as text, never as HTML (Chromium)', () => {
  let browser: Browser;
  let mail: TestMailServer;
  let rt: TestRuntime;
  let problems: string[];
  let stack: BrowserStack;
  beforeAll(async () => {
    stack = await startBrowserStack({ admin: { token: ADMIN_TOKEN } });
    ({ browser, mail, rt } = stack);
  }, 30_000);
  afterAll(() => stack?.close());
  afterEach(() => {
    expect(problems).toEqual([]);
  });

  /**
   * A page with the Content-Security-Policy switched off: the CSP would block inline handlers anyway, and this test is
   * about the rendering itself, so an injection must show up as `window.__xss` being set, not only as a CSP report.
   */
  async function open(path = '/'): Promise<Page> {
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1100, height: 800 } });
    const page = await context.newPage();
    problems = [];
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    await page.goto(`${rt.httpUrl}${path}`);
    return page;
  }

  const signIn = signInWithEmail;
  const send = sendChat;
  const lastAssistant = lastAssistantMessage;

  it('the check itself works: markup injected on purpose into this page does run', async () => {
    const page = await open();
    await page.evaluate<void>(`{ const probe = document.createElement('div'); probe.innerHTML = '<img src="data:," onerror="window.__xss=0">'; document.body.append(probe); }`);
    await expect.poll(() => xssFlag(page)).toBe('0');
    await page.context().close();
  });

  it('a streamed answer and the user\'s message holding HTML are shown literally, live and after a reload', async () => {
    const answer = payload(1);
    const asked = payload(3);
    // Split mid-tag: chunks are appended one by one, and must not be joined into markup either.
    rt.ollama.enqueue({ tokens: ['Voici ', answer.img.slice(0, 9), answer.img.slice(9), ' et ', answer.script, ' fin.'], delayMs: 20 });
    const page = await open();
    await signIn(page, `xss-stream-${Date.now()}@example.com`);
    const question = `Montre ${asked.img} <b>gras</b> ${asked.script}`;
    await send(page, question);
    const expected = `Voici ${answer.img} et ${answer.script} fin.`;
    await expect.poll(() => lastAssistant(page).textContent()).toContain(expected);
    expect(await page.locator('[data-testid=message][data-role=user]').last().textContent()).toContain(question);
    await expectNothingRan(page);

    // A reload draws the same conversation from `history`: another rendering path.
    await page.reload();
    await expect.poll(() => lastAssistant(page).textContent(), { timeout: 10_000 }).toContain(expected);
    expect(await page.locator('[data-testid=message][data-role=user]').last().textContent()).toContain(question);
    await expectNothingRan(page);
    await page.context().close();
  });

  it('a new-mail toast and the notifications list show HTML in from, subject and summary literally', async () => {
    const user = `xss-toast-${Date.now()}@example.com`;
    const from = payload(5).img;
    const subject = `${payload(7).script} Budget`;
    const summary = `${payload(9).img} Le budget <b>double</b>.`;
    const page = await open();
    await signIn(page, user);
    rt.ollama.enqueue(summaryAnswer(summary));
    // The real path: signed webhook → BullMQ job → summary by the (fake) LLM → notification on the user's socket.
    const body = JSON.stringify({ user_email: user, email_id: `xss-${Date.now()}.eml`, from, subject, body: 'Le budget double.' });
    const response = await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers: signWebhook(TEST_WEBHOOK_SECRET, body), body });
    expect(response.status).toBe(202);

    const toast = page.getByTestId('toast');
    await toast.waitFor({ timeout: 10_000 });
    const shown = (await toast.textContent()) ?? '';
    for (const text of [from, subject, summary]) expect(shown).toContain(text);
    const listed = (await page.getByTestId('notification').first().textContent()) ?? '';
    for (const text of [from, subject, summary]) expect(listed).toContain(text);
    await expectNothingRan(page);
    await page.context().close();
  });

  it('email cards (list_emails) and a read email (read_email) show HTML in sender, subject and body literally', async () => {
    const user = `xss-cards-${Date.now()}@example.com`;
    const subject = `${payload(11).img} Rapport`;
    const text = `Lire ${payload(13).img} puis ${payload(15).script} ici.`;
    const senderName = payload(17).script;
    await mail.sendSmtp({ from: `"${senderName}" <boss@example.com>`, to: user, subject, text });
    const client = await mail.client();
    const listed = (await client.callTool({ name: 'list_emails', arguments: { email: user } })).structuredContent as { emails: Array<{ id: string }> };
    await client.close();
    const emailId = listed.emails[0]!.id;

    rt.ollama.enqueue(
      { toolCalls: [{ name: 'list_emails', arguments: {} }] },
      { tokens: ['Un email.'] },
      { toolCalls: [{ name: 'read_email', arguments: { email_id: emailId } }] },
      { tokens: ['Lu.'] },
    );
    const page = await open();
    await signIn(page, user);
    await send(page, 'Liste mes emails');
    const card = page.getByTestId('email-card').first();
    await card.waitFor();
    const cardText = (await card.textContent()) ?? '';
    expect(cardText).toContain(subject);
    expect(cardText).toContain(senderName);
    // The snippet is the start of the body, on one line.
    expect(cardText).toContain(`Lire ${payload(13).img}`);
    await expectNothingRan(page);

    await expect.poll(() => lastAssistant(page).textContent()).toContain('Un email.');
    await send(page, 'Lis-le');
    const view = page.getByTestId('email-view');
    await view.waitFor();
    const viewText = (await view.textContent()) ?? '';
    expect(viewText).toContain(subject);
    expect(viewText).toContain(senderName);
    expect(viewText).toContain(text);
    await expectNothingRan(page);
    await page.context().close();
  });

  it('the priority inbox, reply drafts and the approval panel they lead to show HTML literally', async () => {
    const user = `xss-inbox-${Date.now()}@example.com`;
    const from = `${payload(23).img} <sender@example.com>`;
    const subject = `${payload(25).script} Devis`;
    const summary = `${payload(27).img} demande un devis.`;
    const draft = `Merci ${payload(29).img} ${payload(31).script}`;
    // Not in the mailbox: the drafts are written from this stored summary.
    await new SummaryStore(rt.runtime.db).insert({ userEmail: user, emailId: 'xss-inbox.eml', from, subject, summary, model: 'test', createdAt: new Date().toISOString(), triage: UNTRIAGED });
    const page = await open();
    await signIn(page, user);
    const item = page.getByTestId('inbox-item').first();
    await item.waitFor();
    const shown = (await item.textContent()) ?? '';
    for (const text of [from, subject, summary]) expect(shown).toContain(text);

    rt.ollama.enqueue({ tokens: [JSON.stringify({ drafts: [draft] })] });
    await item.getByTestId('suggest-replies').click();
    const picked = item.getByTestId('reply-draft').first();
    await picked.waitFor();
    expect(await picked.textContent()).toContain(draft);
    await expectNothingRan(page);

    await picked.click();
    const approval = page.getByTestId('approval');
    await approval.waitFor();
    expect(await approval.textContent()).toContain(draft);
    await expectNothingRan(page);
    await page.getByTestId('reject').click();
    await page.context().close();
  });

  it('the inspector shows a conversation\'s revealed content as text', async () => {
    const asked = payload(19);
    const answer = payload(21);
    rt.ollama.enqueue({ tokens: [answer.img, answer.script] });
    const client = await rt.client(`xss-inspected-${Date.now()}@example.com`);
    const turn = await client.chat(`${asked.img} ${asked.script}`);
    const conversationId = turn.find((m) => m.type === 'history')!.conversation_id;

    const page = await open('/inspector');
    await page.getByTestId('admin-token').fill(ADMIN_TOKEN);
    await page.getByTestId('admin-signin').click();
    await page.locator(`[data-testid=actor-row][data-conversation-id="${conversationId}"]`).click();
    await page.getByTestId('actor-detail').waitFor();
    await page.getByTestId('reveal').click();
    // Revealed, the timeline's event details carry the message and the answer (as JSON, so quotes are escaped).
    await expect.poll(() => page.getByTestId('timeline').textContent()).toContain('<img src=x onerror=\\"window.__xss=19\\">');
    expect(await page.getByTestId('timeline').textContent()).toContain('<script>window.__xss=22</script>');
    await expectNothingRan(page);
    await client.close();
    await page.context().close();
  });
});
