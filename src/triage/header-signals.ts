import type { TriageHeader } from '../mail/email-webhook.js';
import { senderAddress } from '../mail/sender-address.js';
import type { Category, Priority } from './triage.js';

/** What one certain signal settles; the fields it leaves out are for a user rule or the LLM. */
export interface TriageDecision {
  category?: Category;
  priority?: Priority;
  needsReply?: boolean;
  /** In words: which header or rule decided. */
  reason: string;
}

export type TriageHeaders = Partial<Record<TriageHeader, string>>;

/**
 * Senders that never read replies: the local part alone decides (`noreply@`, `no-reply@`, `do_not_reply@`,
 * `notifications@`, bounces from `MAILER-DAEMON@` and `postmaster@`).
 */
const NO_REPLY_LOCAL_PART = /^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer-daemon|postmaster|notifications?|bounces?)(?:[-+._][^@]*)?$/i;
/** `Precedence` values RFC 3834 and list managers use for mass mail (`junk` too: it is bulk mail that says so). */
const BULK_PRECEDENCE = /^\s*(?:bulk|list|junk)\b/i;
const SPAM_SCORE_IN_STATUS = /\bscore=(-?\d+(?:\.\d+)?)/i;

/** The spam score the filter gave, from whichever header carries one; `undefined` when none does. */
function spamScore(headers: TriageHeaders): number | undefined {
  const scored = [headers['x-spam-score'], headers['x-rspamd-score'], SPAM_SCORE_IN_STATUS.exec(headers['x-spam-status'] ?? '')?.[1]];
  for (const text of scored) {
    const score = Number.parseFloat(text ?? '');
    if (Number.isFinite(score)) return score;
  }
  // SpamAssassin's `X-Spam-Level` is one star per whole point.
  const stars = headers['x-spam-level']?.trim();
  return stars && /^\*+$/.test(stars) ? stars.length : undefined;
}

/**
 * What the headers say for certain, without the LLM: a spam filter's verdict, mail a machine sent, bulk mail. Most
 * certain first: spam is spam even when it carries an unsubscribe link, and a bounce is a notification.
 */
export function triageFromHeaders(from: string, headers: TriageHeaders, spamThreshold: number): TriageDecision | undefined {
  if (/^\s*yes\b/i.test(headers['x-spam-flag'] ?? '') || /^\s*yes\b/i.test(headers['x-spam-status'] ?? '')) {
    return { category: 'spam', priority: 'low', needsReply: false, reason: 'the spam filter flagged it (X-Spam-Flag / X-Spam-Status)' };
  }
  const score = spamScore(headers);
  if (score !== undefined && score >= spamThreshold) {
    return { category: 'spam', priority: 'low', needsReply: false, reason: `spam score ${score} ≥ ${spamThreshold}` };
  }
  const autoSubmitted = headers['auto-submitted']?.trim().toLowerCase();
  if (autoSubmitted && !autoSubmitted.startsWith('no')) {
    return { category: 'notification', needsReply: false, reason: `sent by a machine (Auto-Submitted: ${autoSubmitted.split(/[\s;(]/)[0]})` };
  }
  if (headers['list-unsubscribe'] !== undefined || BULK_PRECEDENCE.test(headers.precedence ?? '')) {
    return { category: 'newsletter', priority: 'low', needsReply: false, reason: headers['list-unsubscribe'] !== undefined ? 'bulk mail (List-Unsubscribe)' : `bulk mail (Precedence: ${headers.precedence?.trim()})` };
  }
  const local = senderAddress(from).split('@')[0] ?? '';
  if (NO_REPLY_LOCAL_PART.test(local)) return { category: 'notification', needsReply: false, reason: `a no-reply sender (${local}@…)` };
  return undefined;
}
