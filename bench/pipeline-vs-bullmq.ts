/**
 * Part of `npm run bench` (issue 15): the summaries pipeline against bare BullMQ on the same private Redis.
 * - Bare: `Queue.add` of each mail's webhook payload, all at once, to a `Worker` whose processor does nothing, with
 *   the runtime's worker concurrency; until the last job has completed.
 * - Pipeline: the same number of mails announced at once on the runtime's signed webhook → summary job → summary
 *   (the fake Ollama answering at once) → `email_notification` on the user's socket (`support/summary-pipeline.ts`).
 * Runs alternate (bare, pipeline, bare, …), each on keys of its own, so that drift hits both alike.
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { EmailWebhookPayload } from '../src/mail/email-webhook.js';
import { TestRedis } from '../tests/support/redis-launcher.js';
import { fixturePayloads, SummaryPipeline } from './support/summary-pipeline.js';
import { within } from './support/within.js';

export interface PipelineKnobs {
  /** Mails (jobs) per run. BENCH_PIPELINE_MAILS @default 200 (--quick 50) */
  mails: number;
  /** Runs of each. BENCH_PIPELINE_RUNS @default 3 (--quick 1) */
  runs: number;
}

export function pipelineKnobs(quick: boolean): PipelineKnobs {
  return { mails: Number(process.env.BENCH_PIPELINE_MAILS ?? (quick ? 50 : 200)), runs: Number(process.env.BENCH_PIPELINE_RUNS ?? (quick ? 1 : 3)) };
}

export function pipelineKnobsText(k: PipelineKnobs): string {
  return `BENCH_PIPELINE_MAILS=${k.mails}, BENCH_PIPELINE_RUNS=${k.runs}`;
}

export interface PipelineSummary {
  pipelineMailsPerS: number;
  bullmqJobsPerS: number;
  mails: number;
}

export const PIPELINE_USER = 'alice@example.com';
const RUN_TIMEOUT_MS = 120_000;

/** Jobs per second from the first `add` to the last completion. */
async function bareBullmq(redisUrl: string, payloads: readonly EmailWebhookPayload[], jobs: number, concurrency: number): Promise<number> {
  const name = 'bare';
  const prefix = `bare${randomUUID().slice(0, 8)}`;
  const producer = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const blocking = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection: producer, prefix });
  let completed = 0;
  let allDone = () => undefined as void;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const worker = new Worker(name, async () => undefined, { connection: blocking, prefix, concurrency });
  worker.on('completed', () => {
    completed += 1;
    if (completed === jobs) allDone();
  });
  try {
    await worker.waitUntilReady();
    const start = performance.now();
    await Promise.all(Array.from({ length: jobs }, (_, i) => queue.add('job', { ...payloads[i % payloads.length]!, email_id: `${randomUUID()}.eml` })));
    await within(done, RUN_TIMEOUT_MS, () => `bare BullMQ: ${completed} of ${jobs} jobs processed`);
    return jobs / ((performance.now() - start) / 1000);
  } finally {
    await worker.close();
    await queue.close();
    producer.disconnect();
    blocking.disconnect();
  }
}

export async function pipelineVsBullmq(knobs: PipelineKnobs, payloads?: readonly EmailWebhookPayload[]): Promise<{ lines: string[]; summary: PipelineSummary }> {
  const mails = payloads ?? (await fixturePayloads(PIPELINE_USER));
  const redis = await TestRedis.start();
  let pipeline: SummaryPipeline | undefined;
  try {
    pipeline = await SummaryPipeline.start(redis.url, PIPELINE_USER);
    // Warm-up of both: JIT, connections, the scripts BullMQ loads into Redis.
    await bareBullmq(redis.url, mails, Math.min(20, knobs.mails), pipeline.concurrency);
    await pipeline.run(mails, Math.min(20, knobs.mails));
    const bare: number[] = [];
    const full: number[] = [];
    for (let run = 0; run < knobs.runs; run += 1) {
      bare.push(await bareBullmq(redis.url, mails, knobs.mails, pipeline.concurrency));
      full.push(await pipeline.run(mails, knobs.mails));
    }
    const middle = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const summary: PipelineSummary = { pipelineMailsPerS: middle(full), bullmqJobsPerS: middle(bare), mails: knobs.mails };
    const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
    return {
      summary,
      lines: [
        `### Summary pipeline against bare BullMQ (issue 15; one private Redis, worker concurrency ${pipeline.concurrency})`,
        '',
        `${knobs.mails} mails at once per run, ${knobs.runs} run(s) of each, alternating; the median run counts (each run's figure in brackets).`,
        '',
        '| path | mails/s | ms per mail | runs |',
        '|---|---|---|---|',
        `| bare BullMQ: \`Queue.add\` → \`Worker\` (no-op) → completed | ${summary.bullmqJobsPerS.toFixed(0)} | ${(1000 / summary.bullmqJobsPerS).toFixed(2)} | (${list(bare)}) |`,
        `| pipeline: webhook → summary job → summary (instant fake LLM) → notification on the socket | ${summary.pipelineMailsPerS.toFixed(0)} | ${(1000 / summary.pipelineMailsPerS).toFixed(2)} | (${list(full)}) |`,
        `| **pipeline / bare BullMQ** | **${(summary.pipelineMailsPerS / summary.bullmqJobsPerS).toFixed(2)}×** | | |`,
        '',
      ],
    };
  } finally {
    await pipeline?.close();
    await redis.close();
  }
}
