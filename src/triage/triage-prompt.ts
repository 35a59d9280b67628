import { z } from 'zod';
import type { JsonOutputFormat } from '../llm/llm-client.js';
import { SUMMARY_RULES } from '../queue/summary-prompt.js';
import { CATEGORIES, PRIORITIES } from './triage.js';

/** A summary is one or two sentences; a longer "summary" is a model that lost the thread. */
const MAX_SUMMARY_CHARS = 2_000;

/** The one answer the LLM gives per mail: its summary and its triage, together. */
function makeAnswerSchema(allowSpam: boolean) {
  const categories = allowSpam ? CATEGORIES : CATEGORIES.filter((c) => c !== 'spam');
  return z.strictObject({
    summary: z.string().trim().min(1).max(MAX_SUMMARY_CHARS),
    category: z.enum(categories as [string, ...string[]]),
    priority: z.enum(PRIORITIES),
    needs_reply: z.boolean(),
  });
}
// Built once each: every mail uses one of the two.
const ANSWER_SCHEMAS = { withSpam: makeAnswerSchema(true), withoutSpam: makeAnswerSchema(false) };
const answerSchema = (allowSpam: boolean) => (allowSpam ? ANSWER_SCHEMAS.withSpam : ANSWER_SCHEMAS.withoutSpam);
export type TriageAnswer = { summary: string; category: (typeof CATEGORIES)[number]; priority: (typeof PRIORITIES)[number]; needs_reply: boolean };

/**
 * The structured-output schema the provider is asked to follow. Without `spam` for a sender the user vouched for: the
 * model then cannot say it, rather than being overruled afterwards.
 */
export function triageAnswerFormat(allowSpam: boolean): JsonOutputFormat {
  return allowSpam ? ANSWER_FORMATS.withSpam : ANSWER_FORMATS.withoutSpam;
}

function jsonSchemaOf(schema: z.ZodType): JsonOutputFormat {
  const { $schema: _ignored, ...jsonSchema } = z.toJSONSchema(schema) as Record<string, unknown>;
  return { name: 'email_triage', schema: jsonSchema };
}
const ANSWER_FORMATS = { withSpam: jsonSchemaOf(ANSWER_SCHEMAS.withSpam), withoutSpam: jsonSchemaOf(ANSWER_SCHEMAS.withoutSpam) };

const TRIAGE_INSTRUCTIONS = [
  'Also sort the email. Answer with one JSON object: {"summary", "category", "priority", "needs_reply"}.',
  '- category: personal (friends, family, the recipient as a person), work (colleagues, clients, the job),',
  '  newsletter (bulk mail, marketing, digests), notification (sent by a system: alerts, receipts of actions, bounces),',
  '  finance (invoices, payments, banks, taxes), spam (unsolicited, scams, phishing).',
  '- priority: high (needs the recipient soon: a deadline, a question waiting on them, a problem), normal, or low',
  '  (can wait or be ignored).',
  '- needs_reply: true only when a person expects an answer from the recipient.',
].join('\n');

/** The summary prompt plus triage; the user's own rules in plain words come last, as theirs to follow. */
export function triageSystemPrompt(words: readonly string[]): string {
  const preferences = words.length ? `\nThe recipient's own rules for sorting their mail (follow them):\n${words.map((w) => `- ${w.replace(/\s+/g, ' ')}`).join('\n')}` : '';
  return [...SUMMARY_RULES, 'The summary is the text itself: no preamble, no quotes, no markdown.', TRIAGE_INSTRUCTIONS].join('\n') + preferences;
}

export type ParsedTriageAnswer = { ok: true; answer: TriageAnswer } | { ok: false; problem: string };

/** The model's text as a triage answer, or what is wrong with it (in words, stored as the reason). */
export function parseTriageAnswer(text: string, allowSpam: boolean): ParsedTriageAnswer {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // Never the text itself: it may quote the mail, and the problem is logged.
    return { ok: false, problem: text.trim() === '' ? 'an empty answer' : `not JSON (${text.length} characters)` };
  }
  const parsed = answerSchema(allowSpam).safeParse(raw);
  if (!parsed.success) return { ok: false, problem: parsed.error.issues.map((i) => `${i.path.join('.') || '(answer)'}: ${i.message}`).join('; ') };
  return { ok: true, answer: parsed.data as TriageAnswer };
}
