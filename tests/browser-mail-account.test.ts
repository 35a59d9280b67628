import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AccountEndpointStandIn } from './support/account-endpoint-stand-in.js';
import { launchBrowser, openPage, signInWithEmail } from './support/browser.js';
import { TEST_JWT_SECRET, hsToken } from './support/jwt.js';
import { TestRuntime } from './support/runtime-harness.js';

/** The chat's "Mailbox" panel in Chromium, against a stand-in for the mail server's `/accounts` endpoints. */

const MAIL_TOKEN = 'mail-server-token-for-browser-tests';
const PASSWORD = `app-password-${randomUUID()}`;
const AUTH_ADVICE = 'Wrong username or password (for Gmail, iCloud and Fastmail use an app password).';

const someone = (name: string) => `${name}-${randomUUID().slice(0, 8)}@example.com`;

/**
 * Chromium reports every 4xx answer to `fetch` on the console ("Failed to load resource"). Here those are answers the
 * page expects (404: no account yet, 422: wrong password), not faults.
 */
const expectedAnswer = (problem: string) => /Failed to load resource: the server responded with a status of (404|422)/.test(problem);

describe('the Mailbox panel in Chromium', () => {
  let browser: Browser;
  let standIn: AccountEndpointStandIn;
  let rt: TestRuntime;
  let problems: string[] = [];
  beforeAll(async () => {
    [browser, standIn] = await Promise.all([launchBrowser(), AccountEndpointStandIn.start({ token: MAIL_TOKEN, password: PASSWORD })]);
    rt = await TestRuntime.start({
      mcp: false,
      config: { mcp: { mail_server_url: standIn.url }, mail: { auth_token: MAIL_TOKEN }, auth: { dev_mode: true, jwt_secret: TEST_JWT_SECRET } },
    });
  }, 30_000);
  afterAll(async () => {
    try {
      await browser?.close();
    } finally {
      try {
        await rt?.close();
      } finally {
        await standIn?.close();
      }
    }
  });
  afterEach(() => {
    // No CSP violation, no uncaught error, no unexpected console error.
    expect(problems.filter((p) => !expectedAnswer(p))).toEqual([]);
  });

  async function page(url = rt.httpUrl): Promise<Page> {
    const opened = await openPage(browser, url);
    problems = opened.problems;
    return opened.page;
  }

  async function openPanel(p: Page): Promise<void> {
    await p.getByTestId('mailbox-open').click();
    await p.getByTestId('mailbox-panel').waitFor();
  }

  it('connects a mailbox (a wrong password says so), shows it, keeps no password, and disconnects', async () => {
    const user = someone('panel');
    const p = await page();
    await signInWithEmail(p, user);
    await openPanel(p);
    const form = p.getByTestId('mailbox-form');
    await form.waitFor();
    expect(await p.getByTestId('mailbox-save-sent').isChecked()).toBe(true);

    await p.locator('[data-testid=mailbox-preset]', { hasText: 'Fastmail' }).click();
    expect(await p.getByTestId('mailbox-imap').inputValue()).toBe('imaps://imap.fastmail.com');
    expect(await p.getByTestId('mailbox-smtp').inputValue()).toBe('smtps://smtp.fastmail.com:465');
    await p.getByTestId('mailbox-username').fill('me@fastmail.example');
    await p.getByTestId('mailbox-password').fill('not-the-password');
    await p.getByTestId('mailbox-connect').click();
    await expect.poll(() => p.getByTestId('mailbox-error-advice').textContent()).toBe(AUTH_ADVICE);
    expect(await p.getByTestId('mailbox-password').inputValue()).toBe('');
    expect(await form.isVisible()).toBe(true);

    await p.getByTestId('mailbox-password').fill(PASSWORD);
    await p.getByTestId('mailbox-save-sent').uncheck();
    await p.getByTestId('mailbox-connect').click();
    await p.getByTestId('mailbox-account').waitFor();
    expect(await p.getByTestId('mailbox-shown-imap').textContent()).toBe('imaps://imap.fastmail.com');
    expect(await p.getByTestId('mailbox-shown-smtp').textContent()).toBe('smtps://smtp.fastmail.com:465');
    expect(await p.getByTestId('mailbox-shown-username').textContent()).toBe('me@fastmail.example');
    expect(await p.getByTestId('mailbox-source').textContent()).toBe('You');
    expect(await p.getByTestId('mailbox-watch').getAttribute('data-state')).toBe('connecting');
    expect(await p.getByTestId('mailbox-error').textContent()).toBe('');
    expect(await p.getByTestId('mailbox-password').inputValue()).toBe('');
    expect(standIn.accounts.get(user)).toMatchObject({ username: 'me@fastmail.example', password: PASSWORD, save_sent: false });
    const stored = await p.evaluate<string>('JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })');
    expect(stored).not.toContain(PASSWORD);
    expect(await p.content()).not.toContain(PASSWORD);

    // Opened again, the panel reads the account from the server.
    await p.getByTestId('mailbox-close').click();
    await p.getByTestId('mailbox-panel').waitFor({ state: 'hidden' });
    await openPanel(p);
    await p.getByTestId('mailbox-account').waitFor();
    expect(await p.getByTestId('mailbox-shown-username').textContent()).toBe('me@fastmail.example');

    await p.getByTestId('mailbox-disconnect').click();
    await form.waitFor();
    expect(await p.getByTestId('mailbox-imap').inputValue()).toBe('imaps://imap.fastmail.com');
    expect(standIn.accounts.has(user)).toBe(false);
    expect(new Set(standIn.requestsFor(user).map((r) => r.authorization))).toEqual(new Set([`Bearer ${MAIL_TOKEN}`]));
    await p.context().close();
  });

  it('signed in with a token, the panel acts for the token\'s user; an operator\'s account cannot be disconnected', async () => {
    const user = someone('token');
    standIn.configure(user, { imap_url: 'imaps://imap.corp.example', smtp_url: 'smtps://smtp.corp.example:465', username: 'ops', save_sent: true, watch: { state: 'retrying', last_error: 'connection timed out' } });
    const p = await page(`${rt.httpUrl}/#token=${await hsToken({ email: user })}`);
    await p.getByTestId('composer').waitFor();
    await openPanel(p);
    await p.getByTestId('mailbox-account').waitFor();
    expect(await p.getByTestId('mailbox-source').textContent()).toBe('The operator');
    expect(await p.getByTestId('mailbox-watch').textContent()).toContain('connection timed out');
    expect(await p.getByTestId('mailbox-managed').isVisible()).toBe(true);
    expect(await p.getByTestId('mailbox-disconnect').isVisible()).toBe(false);
    expect(standIn.requestsFor(user).map((r) => r.method)).toEqual(['GET']);
    await p.context().close();
  });
});
