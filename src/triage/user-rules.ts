import { z } from 'zod';
import { CategorySchema, PrioritySchema } from './triage.js';
import type { TriageDecision } from './header-signals.js';

/** A user has at most this many rules: they are all read for every mail of theirs. */
export const MAX_RULES_PER_USER = 200;
/** Plain-words rules go into the LLM's prompt: bounded in count and length so that they cannot crowd out the mail. */
export const MAX_WORDS_RULES_IN_PROMPT = 20;
const MAX_PATTERN_CHARS = 200;
const MAX_WORDS_CHARS = 300;

const pattern = z.string().trim().min(1).max(MAX_PATTERN_CHARS);

/**
 * A rule as the user writes it: patterns on the sender and the subject with the triage they set, or plain words for
 * the LLM ("anything from my boss is high"). Patterns are case-insensitive substrings; `*` stands for anything.
 */
export const TriageRuleInputSchema = z
  .strictObject({
    from: pattern.optional(),
    subject: pattern.optional(),
    words: z.string().trim().min(1).max(MAX_WORDS_CHARS).optional(),
    category: CategorySchema.optional(),
    priority: PrioritySchema.optional(),
    needs_reply: z.boolean().optional(),
  })
  .refine((r) => r.words !== undefined || r.from !== undefined || r.subject !== undefined, { message: 'A rule needs a sender pattern (from), a subject pattern, or plain words.' })
  .refine((r) => r.words === undefined || (r.from === undefined && r.subject === undefined), { message: 'A rule is either patterns or plain words, not both.' })
  .refine((r) => r.words !== undefined || r.category !== undefined || r.priority !== undefined || r.needs_reply !== undefined, {
    message: 'A pattern rule must set something: category, priority or needs_reply.',
  });
export type TriageRuleInput = z.infer<typeof TriageRuleInputSchema>;

export interface TriageRule extends Omit<TriageRuleInput, 'needs_reply'> {
  id: string;
  needs_reply?: boolean;
  /** Mail from this sender is never spam (the user marked one "not spam"). */
  not_spam?: boolean;
  created_at: string;
}

/** What the user's rules say about one mail, before the LLM. */
export interface UserRulesVerdict {
  decision?: TriageDecision;
  /** The sender is one the user said is not a spammer: neither the headers nor the LLM may call it spam. */
  notSpam: boolean;
  /** Plain-words rules, for the LLM's prompt. */
  words: string[];
}

function patternRegExp(text: string): RegExp {
  const escaped = text.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(escaped.join('.*'), 'i');
}

function matches(rule: TriageRule, mail: { from: string; subject: string }): boolean {
  if (rule.words !== undefined) return false;
  if (rule.from === undefined && rule.subject === undefined) return false;
  return (rule.from === undefined || patternRegExp(rule.from).test(mail.from)) && (rule.subject === undefined || patternRegExp(rule.subject).test(mail.subject));
}

function describe(rule: TriageRule): string {
  const on = [rule.from !== undefined ? `from "${rule.from}"` : '', rule.subject !== undefined ? `subject "${rule.subject}"` : ''].filter(Boolean).join(' and ');
  return rule.not_spam ? `you marked ${on} not spam` : `your rule: ${on}`;
}

/** The newest matching rule decides each field it sets; an older one fills the fields left open. */
export function applyUserRules(rules: readonly TriageRule[], mail: { from: string; subject: string }): UserRulesVerdict {
  const newestFirst = [...rules].sort((a, b) => b.created_at.localeCompare(a.created_at));
  const decision: TriageDecision = { reason: '' };
  const reasons: string[] = [];
  let notSpam = false;
  for (const rule of newestFirst) {
    if (!matches(rule, mail)) continue;
    const before = { ...decision };
    decision.category ??= rule.category;
    decision.priority ??= rule.priority;
    decision.needsReply ??= rule.needs_reply;
    const setSomething = decision.category !== before.category || decision.priority !== before.priority || decision.needsReply !== before.needsReply;
    if (rule.not_spam) notSpam = true;
    if (setSomething || rule.not_spam) reasons.push(describe(rule));
  }
  const words = newestFirst.flatMap((r) => (r.words !== undefined ? [r.words] : [])).slice(0, MAX_WORDS_RULES_IN_PROMPT);
  // A "not spam" rule decides nothing by itself, but says why a spam verdict was not taken.
  return { ...(reasons.length > 0 ? { decision: { ...decision, reason: reasons.join('; ') } } : {}), notSpam, words };
}
