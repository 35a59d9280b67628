import { createHash } from 'node:crypto';
import { z } from 'zod';
import { EmailWebhookPayloadSchema } from '../mail/email-webhook.js';
import { TraceCarrierSchema } from '../tracing/trace-carrier.js';

export const SUMMARY_QUEUE_NAME = 'email-summaries';

/**
 * A job is one email to summarize: the webhook's payload, as received, and the trace it was added in (when tracing is
 * on), so that the worker's spans join the webhook's trace wherever the worker runs.
 */
export const SummaryJobDataSchema = EmailWebhookPayloadSchema.extend({ trace_context: TraceCarrierSchema.optional() });
export type SummaryJobData = z.infer<typeof SummaryJobDataSchema>;

export const SummaryJobResultSchema = z.object({
  summary: z.string(),
  model: z.string(),
  created_at: z.string(),
  /** False when the summary already existed (a retry, or the same email announced twice). */
  created: z.boolean(),
  /** The stored triage; absent from the results of a worker older than triage. */
  category: z.string().optional(),
  priority: z.string().optional(),
});
export type SummaryJobResult = z.infer<typeof SummaryJobResultSchema>;

/**
 * The same email always maps to the same job id, so a second announcement finds the first job instead of adding one.
 * Hashed because BullMQ refuses ':' in ids and addresses may hold anything an email id can.
 */
export function summaryJobId(userEmail: string, emailId: string): string {
  return `summary-${createHash('sha256').update(`${userEmail.toLowerCase()}\u0000${emailId}`).digest('hex').slice(0, 40)}`;
}
