import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { openPage, lastAssistantMessage, sendChat, signInWithEmail } from './support/browser.js';
import { startBrowserStack, type BrowserStack } from './support/browser-stack.js';
import type { TestMailServer } from './support/mail-harness.js';
import { TEST_WEBHOOK_SECRET, type TestRuntime } from './support/runtime-harness.js';
import { summaryAnswer } from './support/triage-answers.js';

const ALICE = 'alice@example.com';
const WORDS = ['Bonjour', ' Alice,', ' voici', ' vos', ' trois', ' emails', ' du', ' jour.'];

const signIn = (page: Page, email = ALICE) => signInWithEmail(page, email);
const send = sendChat;
const lastAssistant = lastAssistantMessage;

describe('chat UI in Chromium', () => {
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

  async function page(email?: string): Promise<Page> {
    const opened = await openPage(browser, rt.httpUrl);
    problems = opened.problems;
    if (email) await signIn(opened.page, email);
    return opened.page;
  }

  it('signs in and streams an answer word by word, showing the machine state', async () => {
    rt.ollama.enqueue({ tokens: WORDS, delayMs: 60 });
    const p = await page(`stream-${Date.now()}@example.com`);
    await send(p, 'Quoi de neuf ?');
    await expect.poll(() => p.getByTestId('state').textContent()).toContain('streaming');
    // Part of the answer is on screen before the rest has arrived.
    await expect.poll(async () => (await lastAssistant(p).textContent()) ?? '').toContain('Bonjour');
    expect(await lastAssistant(p).textContent()).not.toContain('du jour.');
    await expect.poll(() => lastAssistant(p).textContent()).toContain(WORDS.join(''));
    await expect.poll(() => p.getByTestId('state').textContent()).toContain('idle');
    await p.context().close();
  });

  it('Stop cancels mid-stream: the LLM request is aborted and the partial answer stays', async () => {
    rt.ollama.enqueue({ tokens: ['Une', ' réponse', ' interminable'], hang: true });
    const p = await page(`stop-${Date.now()}@example.com`);
    const before = rt.ollama.requests.length;
    await send(p, 'Raconte une histoire');
    await expect.poll(() => lastAssistant(p).textContent()).toContain('interminable');
    await p.getByTestId('stop').click();
    await rt.ollama.waitForAbort(before);
    await expect.poll(() => p.getByTestId('state').textContent()).toContain('idle');
    expect(await lastAssistant(p).textContent()).toContain('Une réponse interminable');
    expect(await p.getByTestId('stop').isDisabled()).toBe(true);
    await p.context().close();
  });

  it('shows the exact email before sending; Approve sends it, Reject does not', async () => {
    const user = `sender-${Date.now()}@example.com`;
    rt.ollama.enqueue(
      { toolCalls: [{ name: 'send_email', arguments: { from: 'ceo@example.com', to: 'carol@example.com', subject: 'Déjeuner', body: 'Midi au bistrot ?' } }] },
      { tokens: ['Envoyé.'] },
      { toolCalls: [{ name: 'send_email', arguments: { to: 'carol@example.com', subject: 'Annulé', body: 'Finalement non' } }] },
      { tokens: ['Pas envoyé.'] },
    );
    const p = await page(user);
    await send(p, 'Invite Carol à déjeuner');
    const approval = p.getByTestId('approval');
    await approval.waitFor();
    const shown = (await approval.textContent()) ?? '';
    expect(shown).toContain('carol@example.com');
    expect(shown).toContain('Déjeuner');
    expect(shown).toContain('Midi au bistrot ?');
    // The sender shown is the signed-in user, not what the model wrote.
    expect(shown).toContain(user);
    expect(shown).not.toContain('ceo@example.com');
    await p.getByTestId('approve').click();
    await expect.poll(() => lastAssistant(p).textContent()).toContain('Envoyé.');

    await send(p, 'Annule le déjeuner');
    await approval.waitFor();
    await p.getByTestId('reject').click();
    await expect.poll(() => lastAssistant(p).textContent()).toContain('Pas envoyé.');

    const client = await mail.client();
    const inbox = (await client.callTool({ name: 'list_emails', arguments: { email: 'carol@example.com' } })).structuredContent as { emails: Array<{ subject: string; from: string }> };
    expect(inbox.emails.filter((e) => e.from === user).map((e) => e.subject)).toEqual(['Déjeuner']);
    await client.close();
    await p.context().close();
  });

  it('renders list_emails as email cards; clicking one asks about that email', async () => {
    const user = `cards-${Date.now()}@example.com`;
    await mail.sendSmtp({ from: 'boss@example.com', to: user, subject: 'Quarterly report', text: 'Due Friday.' });
    rt.ollama.enqueue({ toolCalls: [{ name: 'list_emails', arguments: {} }] }, { tokens: ['Un email.'] }, { tokens: ['Il parle du rapport.'] });
    const p = await page(user);
    await send(p, 'Liste mes emails');
    const card = p.getByTestId('email-card').first();
    await card.waitFor();
    expect(await card.textContent()).toContain('Quarterly report');
    expect(await card.getByTestId('unread').count()).toBe(1);
    const requests = rt.ollama.requests.length;
    await card.click();
    await rt.ollama.waitForRequests(requests + 1);
    expect(JSON.stringify(rt.ollama.requests[requests]!.body.messages!.at(-1))).toContain('Quarterly report');
    await p.context().close();
  });

  it('pops up a new-mail notification toast from a webhook, and lists it', async () => {
    const user = `toast-${Date.now()}@example.com`;
    const p = await page(user);
    rt.ollama.enqueue(summaryAnswer('Votre patron demande le rapport pour vendredi.'));
    const body = JSON.stringify({ user_email: user, email_id: `toast-${Date.now()}.eml`, from: 'boss@example.com', subject: 'Report', body: 'Please send the report by Friday.' });
    const response = await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers: signWebhook(TEST_WEBHOOK_SECRET, body), body });
    expect(response.status).toBe(202);
    const toast = p.getByTestId('toast');
    await toast.waitFor({ timeout: 10_000 });
    expect(await toast.textContent()).toContain('Votre patron demande le rapport pour vendredi.');
    await expect.poll(() => p.getByTestId('notification').count()).toBe(1);
    await p.context().close();
  });

  it('survives a reload mid-stream: the whole answer appears exactly once', async () => {
    const tokens = Array.from({ length: 30 }, (_, i) => ` mot${i}`);
    rt.ollama.enqueue({ tokens, delayMs: 40 });
    const p = await page(`reload-${Date.now()}@example.com`);
    await send(p, 'Une longue réponse, s’il te plaît');
    await expect.poll(() => lastAssistant(p).textContent()).toContain('mot3');
    await p.reload();
    await expect.poll(() => p.getByTestId('state').textContent(), { timeout: 10_000 }).toContain('idle');
    await expect.poll(() => lastAssistant(p).textContent()).toContain('mot29');
    const text = (await lastAssistant(p).textContent()) ?? '';
    expect(text).toContain(tokens.join('').trim());
    expect(text.split('mot0 ').length - 1).toBe(1);
    expect(await p.locator('[data-testid=message][data-role=user]').count()).toBe(1);
    await p.context().close();
  });

  it('is usable at phone width', async () => {
    const opened = await openPage(browser, rt.httpUrl, { width: 375 });
    problems = opened.problems;
    await signIn(opened.page, `phone-${Date.now()}@example.com`);
    // A string, so that the Node-side type-check needs no DOM types.
    const overflow = await opened.page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    expect(await opened.page.getByTestId('composer').isVisible()).toBe(true);
    await opened.context.close();
  });
});
