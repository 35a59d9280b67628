import type { Browser } from 'playwright-core';
import { launchBrowser } from './browser.js';
import { TestMailServer } from './mail-harness.js';
import { TestRedis } from './redis-launcher.js';
import { TestRuntime, type TestRuntimeOptions } from './runtime-harness.js';

/** What the browser tests drive: Chromium, and a runtime with summaries (private Redis) and the real mail server. */
export interface BrowserStack {
  browser: Browser;
  redis: TestRedis;
  mail: TestMailServer;
  rt: TestRuntime;
  close(): Promise<void>;
}

export async function startBrowserStack(config: TestRuntimeOptions['config'] = {}): Promise<BrowserStack> {
  const [browser, redis, mail] = await Promise.all([launchBrowser(), TestRedis.start(), TestMailServer.start()]);
  const rt = await TestRuntime.start({ mcp: false, redisUrl: redis.url, config: { ...config, mcp: { mail_server_url: mail.mcpUrl, ...config.mcp } } });
  await rt.runtime.notificationsReady;
  await rt.toolsListed();
  return {
    browser,
    redis,
    mail,
    rt,
    async close() {
      await browser.close();
      await rt.close();
      await Promise.all([redis.close(), mail.close()]);
    },
  };
}
