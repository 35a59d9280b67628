import { z } from 'zod';
import type { ConversationEvent, ConversationInput } from '../machines/conversation-machine.js';
import type { StoredJournalRecord } from './inspector-store.js';
import { ConversationInputSchema, EVENT_SCHEMAS, START_RECORD, isJournaledEventType } from './journal-format.js';
import { redact } from './redaction.js';

/** A conversation's journal as a self-contained JSON document: what `export` produces and `replay` takes. */

export const EXPORT_FORMAT = 'ai-runtime.conversation-events';
export const EXPORT_VERSION = 1;

export interface ConversationExportDocument {
  format: typeof EXPORT_FORMAT;
  version: typeof EXPORT_VERSION;
  conversation_id: string;
  exported_at: string;
  /** Free text replaced by `[redacted N chars]`; the structure (and so the replay) is unchanged. */
  redacted: boolean;
  records: Array<{ seq: number; at: string; type: string; payload: unknown }>;
}

export type ReplayRecord =
  | { seq: number; at: string; kind: 'start'; input: ConversationInput }
  | { seq: number; at: string; kind: 'event'; event: ConversationEvent };

export interface ParsedExport {
  conversationId: string;
  records: ReplayRecord[];
}

/** The export cannot be replayed; `issues` name each problem by its path (`records.3.payload.text: …`). */
export class InvalidExportError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid export: ${issues.slice(0, 5).join('; ')}${issues.length > 5 ? ` (and ${issues.length - 5} more)` : ''}`);
    this.name = 'InvalidExportError';
  }
}

export function buildExport(conversationId: string, records: readonly StoredJournalRecord[], reveal: boolean): ConversationExportDocument {
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    conversation_id: conversationId,
    exported_at: new Date().toISOString(),
    redacted: !reveal,
    records: records.map((r) => ({ seq: r.seq, at: r.at, type: r.type, payload: reveal ? r.payload : redact(r.payload) })),
  };
}

const EnvelopeSchema = z.object({
  format: z.literal(EXPORT_FORMAT, { error: `expected "${EXPORT_FORMAT}" (an export from GET /api/inspector/conversations/:id/export)` }),
  version: z.literal(EXPORT_VERSION, { error: `expected ${EXPORT_VERSION}` }),
  conversation_id: z.string().min(1),
  records: z
    .array(z.object({ seq: z.int().min(1), at: z.string(), type: z.string().min(1), payload: z.unknown() }))
    .min(1, 'an export needs at least its start record'),
});

const pathOf = (path: readonly PropertyKey[]) => path.map(String).join('.');
const issuesOf = (error: z.ZodError, prefix: readonly PropertyKey[] = []) =>
  error.issues.map((issue) => `${pathOf([...prefix, ...issue.path]) || '(export)'}: ${issue.message}`);

/** Checks a whole export (envelope, order, every payload against the machine's event types) before any replay. */
export function parseExport(raw: unknown): ParsedExport {
  const envelope = EnvelopeSchema.safeParse(raw);
  if (!envelope.success) throw new InvalidExportError(issuesOf(envelope.error));
  const issues: string[] = [];
  const records: ReplayRecord[] = [];
  envelope.data.records.forEach((record, index) => {
    const at = ['records', index] as const;
    const previous = envelope.data.records[index - 1];
    if (previous && record.seq <= previous.seq) issues.push(`${pathOf([...at, 'seq'])}: must be greater than the previous record's (${previous.seq})`);
    if (index === 0 && record.type !== START_RECORD) issues.push(`${pathOf([...at, 'type'])}: the first record must be "${START_RECORD}" (the actor's input), got "${record.type}"`);
    if (record.type === START_RECORD) {
      const input = ConversationInputSchema.safeParse(record.payload);
      if (input.success) records.push({ seq: record.seq, at: record.at, kind: 'start', input: input.data });
      else issues.push(...issuesOf(input.error, [...at, 'payload']));
      return;
    }
    if (!isJournaledEventType(record.type)) {
      issues.push(`${pathOf([...at, 'type'])}: unknown record type "${record.type}" (known: ${[START_RECORD, ...Object.keys(EVENT_SCHEMAS)].join(', ')})`);
      return;
    }
    const event = EVENT_SCHEMAS[record.type].safeParse(record.payload);
    if (event.success) records.push({ seq: record.seq, at: record.at, kind: 'event', event: event.data });
    else issues.push(...issuesOf(event.error, [...at, 'payload']));
  });
  if (issues.length > 0) throw new InvalidExportError(issues);
  return { conversationId: envelope.data.conversation_id, records };
}
