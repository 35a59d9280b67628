/**
 * Part of `npm run bench` (issue 15): the summaries pipeline against bare BullMQ on the same private Redis.
 * - Bare: `Queue.add` of each mail's webhook payload, all at once, to a `Worker` whose processor does nothing, with
 *   the runtime's worker concurrency; until the last job has completed.
 * - Bare BullMQ with the I/O every summary needs: the same, but the processor asks the runtime's fake Ollama for a
 *   structured answer (`ollama.chat`, not streamed, a JSON Schema `format`) and publishes it on a Redis channel, and the
 *   run ends when a subscriber has seen every one: the floor under any summary pipeline, with none of the runtime's
 *   own work (webhook, parsing, storage, triage rules, sockets).
 * - Pipeline: the same number of mails announced at once on the runtime's signed webhook → summary job → summary
 *   (the fake Ollama answering at once) → `email_notification` on the user's socket (`support/summary-pipeline.ts`).
 * Runs alternate (bare, pipeline, bare, …), each on keys of its own, so that drift hits both alike.
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Ollama } from 'ollama';
import type { EmailWebhookPayload } from '../src/mail/email-webhook.js';
import { TestRedis } from '../tests/support/redis-launcher.js';
import { fixturePayloads, SummaryPipeline } from './support/summary-pipeline.js';
import { within } from '../tests/support/within.js';

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
  /** Bare BullMQ whose processor makes the LLM call and the publish a summary needs. */
  floorJobsPerS: number;
  mails: number;
}

/** The answer the floor's processor asks for: a summary, as the runtime's summary jobs do (with more fields). */
const FLOOR_FORMAT = { type: 'object', properties: { summary: { type: 'string' } }, required: ['summary'] } as const;

export const PIPELINE_USER = 'alice@example.com';
const RUN_TIMEOUT_MS = 120_000;

/**
 * Jobs per second from the first `add` to the last completion: with no `llmUrl` the processor does nothing; with one
 * it makes a summary's LLM call there and publishes the answer, and a job counts once its message is received.
 */
async function bareBullmq(redisUrl: string, payloads: readonly EmailWebhookPayload[], jobs: number, concurrency: number, llmUrl?: string): Promise<number> {
  const name = 'bare';
  const prefix = `bare${randomUUID().slice(0, 8)}`;
  const channel = `${prefix}:notifications`;
  const producer = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const blocking = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const subscriber = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection: producer, prefix });
  const llm = llmUrl === undefined ? undefined : new Ollama({ host: llmUrl });
  let completed = 0;
  let allDone = () => undefined as void;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const count = () => {
    completed += 1;
    if (completed === jobs) allDone();
  };
  const summarize = async ({ data }: { data: EmailWebhookPayload }) => {
    const answer = await llm!.chat({ model: 'llama3.1:8b', stream: false, format: FLOOR_FORMAT, messages: [{ role: 'system', content: 'Summarize this email.' }, { role: 'user', content: `${data.subject}\n\n${data.body}` }] });
    await producer.publish(channel, JSON.stringify({ user_email: data.user_email, email_id: data.email_id, summary: answer.message.content }));
  };
  const worker = new Worker<EmailWebhookPayload>(name, llm ? summarize : async () => undefined, { connection: blocking, prefix, concurrency });
  if (llm) {
    await subscriber.subscribe(channel);
    subscriber.on('message', count);
  } else worker.on('completed', count);
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
    subscriber.disconnect();
  }
}

export async function pipelineVsBullmq(knobs: PipelineKnobs, payloads?: readonly EmailWebhookPayload[]): Promise<{ lines: string[]; summary: PipelineSummary }> {
  const mails = payloads ?? (await fixturePayloads(PIPELINE_USER));
  const redis = await TestRedis.start();
  let pipeline: SummaryPipeline | undefined;
  try {
    pipeline = await SummaryPipeline.start(redis.url, PIPELINE_USER);
    // Warm-up of both: JIT, connections, the scripts BullMQ loads into Redis.
    const floorRun = (jobs: number) => bareBullmq(redis.url, mails, jobs, pipeline!.concurrency, pipeline!.ollamaUrl);
    await bareBullmq(redis.url, mails, Math.min(20, knobs.mails), pipeline.concurrency);
    await floorRun(Math.min(20, knobs.mails));
    await pipeline.run(mails, Math.min(20, knobs.mails));
    const bare: number[] = [];
    const floor: number[] = [];
    const full: number[] = [];
    for (let run = 0; run < knobs.runs; run += 1) {
      bare.push(await bareBullmq(redis.url, mails, knobs.mails, pipeline.concurrency));
      floor.push(await floorRun(knobs.mails));
      full.push(await pipeline.run(mails, knobs.mails));
    }
    const middle = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const summary: PipelineSummary = { pipelineMailsPerS: middle(full), bullmqJobsPerS: middle(bare), floorJobsPerS: middle(floor), mails: knobs.mails };
    const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
    return {
      summary,
      lines: [
        `### Summary pipeline against bare BullMQ (issue 15; one private Redis, worker concurrency ${pipeline.concurrency})`,
        '',
        `${knobs.mails} mails at once per run, ${knobs.runs} run(s) of each, alternating, everything in the benchmark's process (the load, the fake Ollama answering at once, the runtime); the median run counts (each run's figure in brackets).`,
        '',
        '| path | mails/s | ms per mail | runs |',
        '|---|---|---|---|',
        `| bare BullMQ: \`Queue.add\` → \`Worker\` (no-op) → completed | ${summary.bullmqJobsPerS.toFixed(0)} | ${(1000 / summary.bullmqJobsPerS).toFixed(2)} | (${list(bare)}) |`,
        `| bare BullMQ + a summary's I/O: \`Queue.add\` → \`Worker\` (\`ollama.chat\` with a \`format\`, \`PUBLISH\`) → received | ${summary.floorJobsPerS.toFixed(0)} | ${(1000 / summary.floorJobsPerS).toFixed(2)} | (${list(floor)}) |`,
        `| pipeline: webhook → summary job → summary (instant fake LLM) → notification on the socket | ${summary.pipelineMailsPerS.toFixed(0)} | ${(1000 / summary.pipelineMailsPerS).toFixed(2)} | (${list(full)}) |`,
        `| **pipeline / bare BullMQ** | **${(summary.pipelineMailsPerS / summary.bullmqJobsPerS).toFixed(2)}×** | | |`,
        `| **pipeline / bare BullMQ + a summary's I/O** | **${(summary.pipelineMailsPerS / summary.floorJobsPerS).toFixed(2)}×** | | |`,
        '',
      ],
    };
  } finally {
    await pipeline?.close();
    await redis.close();
  }
}
