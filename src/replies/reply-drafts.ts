import { z } from 'zod';
import type { ToolResult } from '../conversations/chat-message.js';
import { senderAddress } from '../mail/sender-address.js';
import type { LlmClient } from '../llm/llm-client.js';
import type { Logger } from '../logger.js';
import type { SummaryStore } from '../storage/summary-store.js';
import { REPLY_DRAFTS_FORMAT, REPLY_SYSTEM_PROMPT, parseReplyDrafts, replyPrompt, replySubject, type EmailToAnswer } from './reply-prompt.js';
import type { ReplySuggestions } from './reply-wire.js';

/** A local model writing three drafts can take a while; past this the user has given up on them anyway. */
export const SUGGEST_TIMEOUT_MS = 120_000;
/** One more request after an answer that is not the JSON asked for; a model wrong twice is wrong for this mail. */
const INVALID_ANSWER_RETRIES = 1;

export interface ReplySuggestionsDeps {
  llm: Pick<LlmClient, 'complete'>;
  summaries: Pick<SummaryStore, 'find'>;
  /** `read_email` on the user's own (pinned) mailbox; an error result when it cannot be read there. */
  readEmail: (userEmail: string, emailId: string, signal: AbortSignal) => Promise<ToolResult>;
  logger: Logger;
}

export type ReplySuggestionOutcome =
  | { status: 'ok'; suggestions: ReplySuggestions }
  /** Neither the mailbox nor the stored summaries know this id, for this user. */
  | { status: 'not_found' }
  /** The model answered, but twice not with usable drafts. */
  | { status: 'invalid_answer'; problem: string };

/** What `read_email` carries in its structured content; the rest of the message is not needed for a reply. */
const ReadEmailSchema = z.object({ email: z.object({ from: z.string(), subject: z.string(), text: z.string() }) });

/**
 * The mail as its user's mailbox has it; else its stored summary, so that mail the mailbox no longer holds (moved,
 * or the mail server down) can still be answered. Both are looked up for `userEmail` only: an id from someone else's
 * mailbox finds nothing.
 */
async function emailToAnswer(deps: ReplySuggestionsDeps, userEmail: string, emailId: string, signal: AbortSignal): Promise<EmailToAnswer | undefined> {
  const read = await deps.readEmail(userEmail, emailId, signal);
  const parsed = read.isError ? undefined : ReadEmailSchema.safeParse(read.structured);
  if (parsed?.success) return { ...parsed.data.email, summaryOnly: false };
  const summary = await deps.summaries.find(userEmail, emailId);
  if (summary) return { from: summary.from, subject: summary.subject, text: summary.summary, summaryOnly: true };
  deps.logger.info({ user: userEmail, emailId, read: read.isError ? read.text.slice(0, 200) : 'no structured email' }, 'reply suggestions: email not found');
  return undefined;
}

/**
 * Two or three short reply drafts for one of the user's emails, in its language. The LLM is asked for JSON (structured
 * output where the provider honours it) and its answer is always checked; an unusable one is asked for once more.
 * LLM failures (down, model missing) are thrown as they come, for the caller to answer 503.
 */
export async function suggestReplies(deps: ReplySuggestionsDeps, userEmail: string, emailId: string, signal: AbortSignal): Promise<ReplySuggestionOutcome> {
  const email = await emailToAnswer(deps, userEmail, emailId, signal);
  if (!email) return { status: 'not_found' };
  const prompt = replyPrompt(email);
  let problem = '';
  for (let attempt = 0; attempt <= INVALID_ANSWER_RETRIES; attempt++) {
    const answer = await deps.llm.complete({ system: REPLY_SYSTEM_PROMPT, prompt, format: REPLY_DRAFTS_FORMAT, signal });
    const parsed = parseReplyDrafts(answer);
    if (parsed.ok) return { status: 'ok', suggestions: { to: senderAddress(email.from), subject: replySubject(email.subject), drafts: parsed.drafts } };
    problem = parsed.problem;
    deps.logger.warn({ user: userEmail, emailId, attempt: attempt + 1, problem }, 'reply suggestions: unusable answer from the LLM');
  }
  return { status: 'invalid_answer', problem };
}
