import type { Context } from '@opentelemetry/api';
import type { LlmClient } from '../llm/llm-client.js';
import type { Logger } from '../logger.js';
import type { EmailWebhookPayload } from '../mail/email-webhook.js';
import { SUMMARY_SYSTEM_PROMPT, cleanSummary, summaryPrompt } from '../queue/summary-prompt.js';
import { triageFromHeaders, type TriageDecision, type TriageHeaders } from './header-signals.js';
import { parseTriageAnswer, triageAnswerFormat, triageSystemPrompt, type TriageAnswer } from './triage-prompt.js';
import { UNKNOWN, type EmailTriage } from './triage.js';
import { applyUserRules, type TriageRule } from './user-rules.js';

export interface TriageSettings {
  /** A spam filter's score at or over this is spam. */
  spamScoreThreshold: number;
}

export interface SummarizedMail {
  summary: string;
  triage: EmailTriage;
}

/** How often the LLM may answer off the schema before its answer is given up on (the "retried once"). */
const STRUCTURED_ATTEMPTS = 2;
const SPAM_HEADERS: ReadonlyArray<keyof TriageHeaders> = ['x-spam-flag', 'x-spam-status', 'x-spam-score', 'x-spam-level', 'x-rspamd-score'];

function withoutSpamVerdict(headers: TriageHeaders): TriageHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !SPAM_HEADERS.includes(name as keyof TriageHeaders)));
}

/** Field by field, the user's rules win over the headers; the headers' reason is kept only where they decided something. */
function merge(user: TriageDecision | undefined, headers: TriageDecision | undefined): TriageDecision {
  const merged: TriageDecision = { category: user?.category, priority: user?.priority, needsReply: user?.needsReply, reason: '' };
  merged.category ??= headers?.category;
  merged.priority ??= headers?.priority;
  merged.needsReply ??= headers?.needsReply;
  const headersDecided = headers !== undefined && (merged.category !== user?.category || merged.priority !== user?.priority || merged.needsReply !== user?.needsReply);
  return { ...merged, reason: [user?.reason ?? '', headersDecided ? headers.reason : ''].filter(Boolean).join('; ') };
}

/** The rules' and headers' certain answers, before any LLM call: cheap, and what the bench measures as "rules only". */
export function certainTriage(email: Pick<EmailWebhookPayload, 'from' | 'subject' | 'headers'>, rules: readonly TriageRule[], settings: TriageSettings): { decision: TriageDecision; notSpam: boolean; words: string[] } {
  const user = applyUserRules(rules, email);
  const headers = email.headers ?? {};
  const fromHeaders = triageFromHeaders(email.from, user.notSpam ? withoutSpamVerdict(headers) : headers, settings.spamScoreThreshold);
  return { decision: merge(user.decision, fromHeaders), notSpam: user.notSpam, words: user.words };
}

function completeTriage(certain: TriageDecision, llm: TriageAnswer | undefined, llmProblem: string | undefined): EmailTriage {
  const fromLlm = llm !== undefined && (certain.category === undefined || certain.priority === undefined || certain.needsReply === undefined);
  const reasons = [certain.reason, fromLlm ? 'the LLM' : '', llmProblem ? `the LLM's answer was not usable: ${llmProblem}` : ''].filter(Boolean);
  return {
    category: certain.category ?? llm?.category ?? UNKNOWN,
    priority: certain.priority ?? llm?.priority ?? UNKNOWN,
    needsReply: certain.needsReply ?? llm?.needs_reply ?? null,
    reason: reasons.join('; '),
  };
}

/**
 * One mail's summary and triage. The rules and headers decide what they can; one structured LLM call gives the summary
 * and the rest. An answer off the schema is asked for again once; after that the triage left open is `unknown` with
 * the reason, and the summary comes from a plain summary call. LLM errors are thrown (the job's retries handle them).
 */
export async function summarizeAndTriage(
  { llm, model, logger, trace }: { llm: LlmClient; model: string; logger?: Logger; trace?: Context },
  email: Pick<EmailWebhookPayload, 'from' | 'subject' | 'body' | 'headers'>,
  rules: readonly TriageRule[],
  settings: TriageSettings,
): Promise<SummarizedMail> {
  const certain = certainTriage(email, rules, settings);
  const request = { system: triageSystemPrompt(certain.words), prompt: summaryPrompt(email), model, format: triageAnswerFormat(!certain.notSpam), trace };
  let problem = '';
  for (let attempt = 1; attempt <= STRUCTURED_ATTEMPTS; attempt += 1) {
    const parsed = parseTriageAnswer(await llm.complete(request), !certain.notSpam);
    if (parsed.ok) {
      const summary = cleanSummary(parsed.answer.summary);
      if (summary) return { summary, triage: completeTriage(certain.decision, parsed.answer, undefined) };
      problem = 'an empty summary';
    } else {
      problem = parsed.problem;
    }
    logger?.warn({ attempt, problem }, 'the LLM answered off the triage schema');
  }
  const summary = cleanSummary(await llm.complete({ system: SUMMARY_SYSTEM_PROMPT, prompt: summaryPrompt(email), model, trace }));
  if (!summary) throw new Error('the LLM returned an empty summary');
  return { summary, triage: completeTriage(certain.decision, undefined, `off the schema twice (${problem})`) };
}
