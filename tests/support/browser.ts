import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium, never a downloaded one; flags from the machine's notes (no background network calls). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/**
 * A page whose console errors and uncaught exceptions (CSP violations included) are collected, so that a test can
 * assert the page ran clean.
 */
export async function openPage(browser: Browser, url: string, options: { width?: number } = {}): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1100, height: 800 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  await page.goto(url);
  return { context, page, problems };
}

/** Signs in on the chat page with dev mode's email form and waits for the composer. */
export async function signInWithEmail(page: Page, email: string): Promise<void> {
  await page.getByTestId('email').fill(email);
  await page.getByTestId('signin').locator('button[type=submit], button').first().click();
  await page.getByTestId('composer').waitFor();
}

export async function sendChat(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('send').click();
}

export const lastAssistantMessage = (page: Page) => page.locator('[data-testid=message][data-role=assistant]').last();
