/**
 * The summaries pipeline end to end, for `bench/pipeline-vs-bullmq.ts` and `bench/triage.ts`: mails announced at once
 * on the signed webhook of a runtime on a private Redis, until the last `email_notification` on the user's socket.
 * The runtime runs in this process (`TestRuntime`) with its summary worker and the fake Ollama answering at once.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { webhookPayloadFrom, type EmailWebhookPayload } from '../../src/mail/email-webhook.js';
import { signWebhook } from '../../src/mail/webhook-signature.js';
import { TEST_WEBHOOK_SECRET, TestRuntime } from '../../tests/support/runtime-harness.js';
import { emailFixtures } from '../../tests/support/email-fixtures.js';
import type { TestClient } from '../../tests/support/ws-client.js';
import { within } from '../../tests/support/within.js';

/** A pipeline run of hundreds of mails takes seconds; past this it has failed. */
const RUN_TIMEOUT_MS = 120_000;
const POLL_MS = 5;

/** The real-world fixtures as the mail server announces them to `user`. */
export async function fixturePayloads(user: string): Promise<EmailWebhookPayload[]> {
  return Promise.all(emailFixtures().map((path, i) => webhookPayloadFrom(user, `fixture-${i}`, readFileSync(path))));
}

export class SummaryPipeline {
  private constructor(
    private readonly rt: TestRuntime,
    private readonly client: TestClient,
  ) {}

  /** A runtime on `redisUrl` with the user `user` signed in. */
  static async start(redisUrl: string, user: string): Promise<SummaryPipeline> {
    // The limits (the summaries' shared one, the webhook's per sender) would measure themselves: lifted. The worker runs
    // as many jobs at once as by default.
    const rt = await TestRuntime.start({ mcp: false, redisUrl, config: { summarization: { rate_limit_max: 100_000 }, rate_limits: { enabled: false } } });
    try {
      await rt.runtime.notificationsReady;
      return new SummaryPipeline(rt, await rt.client(user));
    } catch (error) {
      await rt.close();
      throw error;
    }
  }

  /** The fake Ollama the runtime's summaries come from. */
  get ollamaUrl(): string {
    return this.rt.ollama.url;
  }

  /** How many summary jobs the runtime's worker runs at once. */
  get concurrency(): number {
    return this.rt.config.summarization.concurrency;
  }

  /** `count` mails (cycling through `mails`, each with a new id) announced at once; mails per second to the last notification. */
  async run(mails: readonly EmailWebhookPayload[], count: number): Promise<number> {
    const all = Array.from({ length: count }, (_, i) => ({ ...mails[i % mails.length]!, email_id: `${randomUUID()}.eml` }));
    const ids = new Set(all.map((mail) => mail.email_id));
    const start = performance.now();
    let poll: NodeJS.Timeout | undefined;
    // Only what arrived since the last look: the socket's list keeps every earlier run's notifications too.
    let seen = this.client.messages.length;
    const notified = new Promise<void>((resolve) => {
      poll = setInterval(() => {
        const messages = this.client.messages;
        for (; seen < messages.length; seen += 1) {
          const m = messages[seen]!;
          if (m.type === 'email_notification') ids.delete(m.email_id);
        }
        if (ids.size === 0) resolve();
      }, POLL_MS);
    });
    try {
      await Promise.all(
        all.map(async (mail) => {
          const body = JSON.stringify(mail);
          const response = await fetch(`${this.rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers: { 'content-type': 'application/json', ...signWebhook(TEST_WEBHOOK_SECRET, body) }, body });
          if (response.status !== 202) throw new Error(`webhook answered ${response.status}`);
        }),
      );
      await within(notified, RUN_TIMEOUT_MS, () => `${ids.size} of ${count} mails not announced`);
    } finally {
      clearInterval(poll);
    }
    return count / ((performance.now() - start) / 1000);
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
    await this.rt.close();
  }
}
