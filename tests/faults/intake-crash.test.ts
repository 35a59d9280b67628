import { describe, expect, it } from 'vitest';
import { runIntakeExperiment } from '../support/intake-experiment.js';

describe('kill -9 of Redis, then of npm start, while mail arrives over SMTP', () => {
  it('every accepted mail is summarized, once', { timeout: 120_000 }, async () => {
    const outcome = await runIntakeExperiment({ mails: 90, waitS: 60 });
    expect(outcome.accepted).toBe(90);
    // The faults struck while mails were in flight: some sends failed and were retried.
    expect(outcome.retried).toBeGreaterThan(0);
    // Once each: summaries are keyed by mail. (LLM calls may exceed them: a job cut by the kill runs again.)
    expect(outcome.summarized).toBe(outcome.accepted);
  });
});
