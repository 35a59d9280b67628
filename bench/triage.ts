/**
 * `npm run bench:triage` (and a part of `npm run bench`): what triage costs per mail, next to the summary it rides on.
 *
 * 1. Rules only: the headers and a user's rules (`certainTriage`) over every real-world fixture, in process.
 * 2. The LLM call: one structured summary + triage call (`summarizeAndTriage`) against the plain summary call it
 *    replaces, both through the official `ollama` client to the fake Ollama answering at once, interleaved.
 * 3. The pipeline: webhook → BullMQ job → summary and triage → notification on the user's socket, BENCH_TRIAGE_MAILS
 *    mails announced at once to a runtime on a private Redis, until the last notification (`support/summary-pipeline.ts`;
 *    in `npm run bench`, the run `bench/pipeline-vs-bullmq.ts` made).
 */
import { pathToFileURL } from 'node:url';
import { parseConfig } from '../src/config/load.js';
import { createLlmClient } from '../src/llm/create-llm-client.js';
import type { EmailWebhookPayload } from '../src/mail/email-webhook.js';
import { SUMMARY_SYSTEM_PROMPT, summaryPrompt } from '../src/queue/summary-prompt.js';
import { certainTriage, summarizeAndTriage } from '../src/triage/summarize-and-triage.js';
import type { TriageRule } from '../src/triage/user-rules.js';
import { FakeOllama } from '../tests/support/fake-ollama.js';
import { TestRedis } from '../tests/support/redis-launcher.js';
import { summaryAnswer } from '../tests/support/triage-answers.js';
import { fixturePayloads, SummaryPipeline } from './support/summary-pipeline.js';

const RULE_ROUNDS = Number(process.env.BENCH_TRIAGE_RULE_ROUNDS ?? 200);
const LLM_ROUNDS = Number(process.env.BENCH_TRIAGE_LLM_ROUNDS ?? 200);
const MAILS = Number(process.env.BENCH_TRIAGE_MAILS ?? 200);
/** For a report's command line; the pipeline's own knob is BENCH_TRIAGE_MAILS only when run alone. */
export const TRIAGE_BENCH_KNOBS = `BENCH_TRIAGE_RULE_ROUNDS=${RULE_ROUNDS}, BENCH_TRIAGE_LLM_ROUNDS=${LLM_ROUNDS}`;
const SETTINGS = { spamScoreThreshold: 5 };
const USER = 'alice@example.com';

/** A user with a few rules of each kind: the rules are read for every mail. */
const RULES: TriageRule[] = [
  { id: 'r1', from: 'boss@acme.example', priority: 'high', created_at: '2026-01-01T00:00:00.000Z' },
  { id: 'r2', from: '*@bank.example', category: 'finance', created_at: '2026-01-02T00:00:00.000Z' },
  { id: 'r3', subject: 'invoice*', category: 'finance', needs_reply: false, created_at: '2026-01-03T00:00:00.000Z' },
  { id: 'r4', words: 'Anything about the Zephyr project is work', created_at: '2026-01-04T00:00:00.000Z' },
  { id: 'r5', from: 'dave@friends.example', not_spam: true, created_at: '2026-01-05T00:00:00.000Z' },
];

const micros = (ns: bigint, n: number) => Number(ns) / 1e3 / n;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function rulesOnly(mails: EmailWebhookPayload[]): { perMailUs: number; decided: number } {
  let decided = 0;
  for (const mail of mails) if (certainTriage(mail, RULES, SETTINGS).decision.category !== undefined) decided += 1;
  const start = process.hrtime.bigint();
  for (let round = 0; round < RULE_ROUNDS; round += 1) for (const mail of mails) certainTriage(mail, RULES, SETTINGS);
  return { perMailUs: micros(process.hrtime.bigint() - start, RULE_ROUNDS * mails.length), decided };
}

async function llmCall(mails: EmailWebhookPayload[]): Promise<{ triageMs: number; summaryMs: number }> {
  const ollama = await FakeOllama.start();
  const llm = createLlmClient(parseConfig({ llm: { base_url: ollama.url } }).llm);
  try {
    ollama.setResponder((request) => (request.body.format ? summaryAnswer('A short summary of the mail.') : { tokens: ['A short summary of the mail.'] }));
    const triage: number[] = [];
    const summary: number[] = [];
    for (let round = 0; round < LLM_ROUNDS; round += 1) {
      const mail = mails[round % mails.length]!;
      let start = process.hrtime.bigint();
      await summarizeAndTriage({ llm, model: llm.model }, mail, RULES, SETTINGS);
      triage.push(Number(process.hrtime.bigint() - start) / 1e6);
      start = process.hrtime.bigint();
      await llm.complete({ system: SUMMARY_SYSTEM_PROMPT, prompt: summaryPrompt(mail), model: llm.model });
      summary.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    return { triageMs: median(triage), summaryMs: median(summary) };
  } finally {
    await llm.close();
    await ollama.close();
  }
}

async function pipeline(mails: EmailWebhookPayload[]): Promise<{ mailsPerS: number; mails: number }> {
  const redis = await TestRedis.start();
  let flow: SummaryPipeline | undefined;
  try {
    flow = await SummaryPipeline.start(redis.url, USER);
    return { mailsPerS: await flow.run(mails, MAILS), mails: MAILS };
  } finally {
    await flow?.close();
    await redis.close();
  }
}

/** `measured`: the pipeline's rate from a run made already (`bench/pipeline-vs-bullmq.ts`), rather than one more. */
export async function triageCost(measured?: { mailsPerS: number; mails: number }): Promise<string[]> {
  const mails = await fixturePayloads(USER);
  const rules = rulesOnly(mails);
  const llm = await llmCall(mails);
  const flow = measured ?? (await pipeline(mails));
  return [
    `### Triage per mail (issue 14; ${mails.length} real-world fixtures, a user with ${RULES.length} rules)`,
    '',
    '| Step | Cost per mail | Note |',
    '|---|---|---|',
    `| Rules only (headers + user rules, no LLM) | ${rules.perMailUs.toFixed(1)} µs | decided the category of ${rules.decided} of ${mails.length} fixtures by itself |`,
    `| Summary alone (plain call, the baseline) | ${llm.summaryMs.toFixed(2)} ms median | fake Ollama answering at once, through the \`ollama\` client |`,
    `| Summary + triage (one structured call) | ${llm.triageMs.toFixed(2)} ms median | ${(llm.triageMs / llm.summaryMs).toFixed(2)}× the summary alone |`,
    `| Pipeline: webhook → job → summary + triage → notification | ${(1000 / flow.mailsPerS).toFixed(2)} ms | ${flow.mailsPerS.toFixed(0)} mails/s over ${flow.mails} mails, BullMQ on a private Redis |`,
    '',
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${(await triageCost()).join('\n')}\n`);
}
