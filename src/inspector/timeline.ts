import type { TimelineEntry, TimelineKind } from './inspector-protocol.js';
import { redact } from './redaction.js';

/**
 * One timeline entry as kept in memory. `raw` is the event (or facts) behind `detail`, kept by reference: it is copied,
 * summarized and redacted only when an inspector asks, so recording an entry costs one small object.
 */
export interface TimelineRecord {
  seq: number;
  at: number;
  kind: TimelineKind;
  type: string;
  from?: string;
  to?: string;
  actor?: string;
  durationMs?: number;
  raw?: Readonly<Record<string, unknown>>;
}

/** The event's own fields; a `PERSIST` batch is reduced to its size (the messages are already in the timeline). */
function describe(raw: Readonly<Record<string, unknown>>): Record<string, unknown> | undefined {
  const { type, ...fields } = raw;
  if (type === 'PERSIST') {
    const messages = fields.messages;
    return { fromPosition: fields.fromPosition, messages: Array.isArray(messages) ? messages.length : 0 };
  }
  return Object.keys(fields).length > 0 ? fields : undefined;
}

export function toWireEntry(record: TimelineRecord, reveal: boolean): TimelineEntry {
  const { raw, ...entry } = record;
  const detail = raw ? describe(raw) : undefined;
  if (detail === undefined) return entry;
  return { ...entry, detail: reveal ? detail : (redact(detail) as Record<string, unknown>) };
}
