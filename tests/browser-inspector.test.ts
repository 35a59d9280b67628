import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage } from './support/browser.js';
import { TestRuntime } from './support/runtime-harness.js';

const ADMIN_TOKEN = 'inspector-admin-token-32-chars-ok';

describe('actor inspector in Chromium', () => {
  let browser: Browser;
  let rt: TestRuntime;
  beforeAll(async () => {
    [browser, rt] = await Promise.all([launchBrowser(), TestRuntime.start({ config: { admin: { token: ADMIN_TOKEN } } })]);
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
    await rt?.close();
  });

  async function signedIn(): Promise<{ page: Page; problems: string[] }> {
    const { page, problems } = await openPage(browser, `${rt.httpUrl}/inspector`);
    await page.getByTestId('admin-token').fill(ADMIN_TOKEN);
    await page.getByTestId('admin-signin').click();
    return { page, problems };
  }

  it('shows a conversation actor move through its states, with its statechart and timeline', async () => {
    const { page, problems } = await signedIn();
    rt.ollama.enqueue({ tokens: ['Un', ' instant'], hang: true });
    const client = await rt.client('watched@example.com');
    client.send({ type: 'chat', message: 'Bonjour' });
    const id = (await client.next('history')).conversation_id;
    const row = page.locator(`[data-testid=actor-row][data-conversation-id="${id}"]`);
    await expect.poll(() => row.getByTestId('actor-state').textContent()).toContain('streaming');
    await row.click();
    const detail = page.getByTestId('actor-detail');
    await detail.waitFor();
    await expect.poll(() => detail.locator('[data-state-node="streaming"]').getAttribute('aria-current')).toBe('true');
    expect(await detail.locator('[data-state-node="idle"]').getAttribute('aria-current')).not.toBe('true');

    client.send({ type: 'cancel' });
    await client.next('done');
    await expect.poll(() => row.getByTestId('actor-state').textContent()).toContain('idle');
    await expect.poll(() => detail.locator('[data-state-node="idle"]').getAttribute('aria-current')).toBe('true');
    const timeline = (await page.getByTestId('timeline').textContent()) ?? '';
    for (const expected of ['CHAT', 'CANCEL', 'llm']) expect(timeline).toContain(expected);
    // The user's words are not on screen until revealed.
    expect(timeline).not.toContain('Bonjour');
    await client.close();
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('replays an exported conversation step by step, forward and back, without calling anything', async () => {
    rt.ollama.enqueue({ toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 } }] }, { tokens: ['5'] });
    const client = await rt.client('replayed@example.com');
    const turn = await client.chat('2+3 ?');
    const id = turn.find((m) => m.type === 'history')!.conversation_id;
    const liveStates = turn.flatMap((m) => (m.type === 'state' ? [m.state] : []));
    await client.close();

    const exported = await (await fetch(`${rt.httpUrl}/api/inspector/conversations/${id}/export`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    const llmCalls = rt.ollama.requests.length;
    const toolCalls = rt.mcp!.calls.length;

    const { page, problems } = await signedIn();
    await page.getByTestId('replay-input').fill(exported);
    await page.getByTestId('replay-load').click();
    await expect.poll(() => page.getByTestId('replay-step').textContent()).toMatch(/^1 \/ \d+/);
    const seen: string[] = [];
    for (;;) {
      const state = ((await page.getByTestId('replay-state').textContent()) ?? '').trim();
      if (seen.at(-1) !== state) seen.push(state);
      const [current, total] = ((await page.getByTestId('replay-step').textContent()) ?? '').split('/').map((n) => Number(n.trim()));
      if (current === total) break;
      await page.getByTestId('replay-forward').click();
      await expect.poll(async () => Number(((await page.getByTestId('replay-step').textContent()) ?? '').split('/')[0])).toBe(current! + 1);
    }
    // The replay visits the states the live run sent, in order.
    expect(seen).toEqual(['idle', ...liveStates]);
    await page.getByTestId('replay-back').click();
    expect(((await page.getByTestId('replay-state').textContent()) ?? '').trim()).toBe('done');
    expect(rt.ollama.requests.length).toBe(llmCalls);
    expect(rt.mcp!.calls.length).toBe(toolCalls);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('refuses a wrong admin token', async () => {
    const { page } = await openPage(browser, `${rt.httpUrl}/inspector`);
    await page.getByTestId('admin-token').fill('not-the-token');
    await page.getByTestId('admin-signin').click();
    await page.getByTestId('inspector-error').waitFor();
    expect(await page.getByTestId('actor-row').count()).toBe(0);
    await page.context().close();
  });
});
