import { z } from 'zod';

/** What a mail is about. `unknown`: nothing certain said it and the LLM gave no valid answer (never guessed). */
export const CATEGORIES = ['personal', 'work', 'newsletter', 'notification', 'finance', 'spam'] as const;
export const PRIORITIES = ['high', 'normal', 'low'] as const;
export const UNKNOWN = 'unknown';

export const CategorySchema = z.enum(CATEGORIES);
export const PrioritySchema = z.enum(PRIORITIES);
export type Category = z.infer<typeof CategorySchema>;
export type Priority = z.infer<typeof PrioritySchema>;

/** One mail's triage, as stored with its summary. */
export interface EmailTriage {
  category: Category | typeof UNKNOWN;
  priority: Priority | typeof UNKNOWN;
  /** `null`: not known. */
  needsReply: boolean | null;
  /** In words, for the user and the operator: which rule or header decided, or why the LLM's answer was not used. */
  reason: string;
}

/** The triage fields as they go on the wire (notifications, `/api/summaries`, tool results): snake_case. */
export interface WireTriage {
  category: EmailTriage['category'];
  priority: EmailTriage['priority'];
  needs_reply: boolean | null;
}

export const WireTriageSchema = z.object({
  category: z.enum([...CATEGORIES, UNKNOWN]),
  priority: z.enum([...PRIORITIES, UNKNOWN]),
  needs_reply: z.boolean().nullable(),
});

export function wireTriage(triage: Pick<EmailTriage, 'category' | 'priority' | 'needsReply'>): WireTriage {
  return { category: triage.category, priority: triage.priority, needs_reply: triage.needsReply };
}
