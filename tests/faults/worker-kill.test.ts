import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../src/mail/webhook-signature.js';
import { SummaryStore } from '../../src/storage/summary-store.js';
import { TestRedis } from '../support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, runtimesClosedAfterEach } from '../support/runtime-harness.js';
import { SpawnedWorker } from '../support/spawned-worker.js';
import { summaryAnswer } from '../support/triage-answers.js';

const ALICE = 'alice@example.com';
const MAILS = 3;

describe('kill -9 of a summary worker', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis.close());
  const runtimes = runtimesClosedAfterEach(() => ({ mcp: false, redisUrl: redis.url }));

  it('jobs it held run again on another worker: every mail is summarized and notified once', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const rt = await runtimes.start({ config: { redis: { prefix }, summarization: { worker: false } } });
    await rt.runtime.notificationsReady;
    const toml = `[redis]\nprefix = "${prefix}"\n[summarization]\nstalled_after_s = 1\nconcurrency = ${MAILS}\n`;
    // The first worker's LLM calls never answer: it dies holding every job.
    const never = new Promise<never>(() => undefined);
    rt.ollama.enqueue(...Array.from({ length: MAILS }, () => ({ ...summaryAnswer('jamais'), startWhen: never })));
    rt.ollama.enqueue(...Array.from({ length: MAILS }, () => summaryAnswer('Résumé après la panne.')));
    const first = await SpawnedWorker.start(rt, redis.url, toml);
    let second: SpawnedWorker | undefined;
    try {
      const alice = await rt.client(ALICE);
      for (let i = 0; i < MAILS; i++) {
        const body = JSON.stringify({ user_email: ALICE, email_id: `m${i}`, from: 'bob@example.com', subject: `Mail ${i}`, body: 'Bonjour' });
        const response = await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers: { 'content-type': 'application/json', ...signWebhook(TEST_WEBHOOK_SECRET, body) }, body });
        expect(response.status).toBe(202);
      }
      await rt.ollama.waitForRequests(MAILS, 15_000);
      await first.kill();

      second = await SpawnedWorker.start(rt, redis.url, toml);
      await expect.poll(() => alice.messages.filter((m) => m.type === 'email_notification').length, { timeout: 20_000 }).toBe(MAILS);
      const queue = rt.runtime.queue!;
      await expect.poll(async () => (await queue.counts()).completed, { timeout: 10_000 }).toBe(MAILS);
      const summaries = await new SummaryStore(rt.runtime.db).listForUser(ALICE);
      expect(summaries.map((s) => s.emailId).sort()).toEqual(Array.from({ length: MAILS }, (_, i) => `m${i}`));
      expect(summaries.every((s) => s.summary === 'Résumé après la panne.')).toBe(true);
      // Once each: the count is still MAILS after every job completed.
      const notified = alice.messages.flatMap((m) => (m.type === 'email_notification' ? [m.email_id] : []));
      expect(notified.sort()).toEqual(Array.from({ length: MAILS }, (_, i) => `m${i}`));
    } finally {
      await first.kill();
      await second?.stop();
    }
  });
});
