import type { EmailSummaryRecord } from '../storage/summary-store.js';
import { wireTriage } from '../triage/triage.js';

/** One summary as `GET /api/summaries` and the triage routes answer it. */
export function summaryItem(s: EmailSummaryRecord) {
  return {
    email_id: s.emailId,
    from: s.from,
    subject: s.subject,
    summary: s.summary,
    model: s.model,
    created_at: s.createdAt,
    ...wireTriage(s.triage),
    triage_reason: s.triage.reason,
  };
}
