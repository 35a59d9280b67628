import type { ConversationWrite } from '../actors/persistence.js';
import type { ChatMessage } from '../conversations/chat-message.js';
import type { StorageFault } from '../errors.js';
import type { UnsavedCount } from './storage-health.js';
import { faultWords } from './storage-fault.js';

export interface UnsavedWrite {
  write: ConversationWrite;
  /** The conversation's sequence number when the write was asked for. */
  lastSeq: number;
  bytes: number;
}

export interface UnsavedLimits {
  /** Bytes of JSON kept per conversation. */
  perConversationBytes: number;
  /** Bytes of JSON kept across conversations. */
  totalBytes: number;
}

export const KeptAs = {
  /** Whole: it will be written as it was asked for. */
  Whole: 'whole',
  /** Over a limit: only a marker per message, so positions stay contiguous; its content is lost. */
  Marker: 'marker',
} as const;
export type KeptAs = (typeof KeptAs)[keyof typeof KeptAs];

interface Backlog {
  writes: UnsavedWrite[];
  bytes: number;
  /** Went over a limit: from then on only markers are kept, until the backlog is written. */
  overLimit: boolean;
}

const sizeOf = (write: ConversationWrite) => Buffer.byteLength(JSON.stringify(write));

/** What the history holds in place of a message that was lost. */
function marker(message: ChatMessage, fault: StorageFault): ChatMessage {
  const text = `[not saved: ${faultWords(fault)}, and too much was already waiting to be saved; this message was lost]`;
  switch (message.role) {
    case 'user':
      return { role: 'user', content: text };
    case 'assistant':
      // The calls keep their ids (their results refer to them), not their arguments.
      return { role: 'assistant', content: text, interrupted: true, ...(message.toolCalls ? { toolCalls: message.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: {} })) } : {}) };
    case 'tool':
      return { role: 'tool', callId: message.callId, toolName: message.toolName, arguments: {}, result: { text, isError: true } };
  }
}

/**
 * Conversation writes the database refused, kept in memory, in order, until it takes them. Bounded per conversation
 * and in total: a write past a limit is kept only as markers (one short message per message, no decisions), so that
 * the positions after it stay contiguous; a restart loses them all (they are in memory only).
 */
export class UnsavedWrites {
  private readonly backlogs = new Map<string, Backlog>();
  private totalBytes = 0;

  constructor(private readonly limits: UnsavedLimits) {}

  has(conversationId: string): boolean {
    return this.backlogs.has(conversationId);
  }

  get isEmpty(): boolean {
    return this.backlogs.size === 0;
  }

  conversationIds(): string[] {
    return [...this.backlogs.keys()];
  }

  /** Keeps `write` after the conversation's other unsaved writes: whole if it fits both limits, else as markers. */
  keep(conversationId: string, write: ConversationWrite, lastSeq: number, fault: StorageFault): KeptAs {
    const backlog = this.backlogs.get(conversationId) ?? { writes: [], bytes: 0, overLimit: false };
    this.backlogs.set(conversationId, backlog);
    const bytes = sizeOf(write);
    backlog.overLimit ||= backlog.bytes + bytes > this.limits.perConversationBytes || this.totalBytes + bytes > this.limits.totalBytes;
    const kept = backlog.overLimit ? { fromPosition: write.fromPosition, messages: write.messages.map((m) => marker(m, fault)) } : write;
    const keptBytes = kept === write ? bytes : sizeOf(kept);
    backlog.writes.push({ write: kept, lastSeq, bytes: keptBytes });
    backlog.bytes += keptBytes;
    this.totalBytes += keptBytes;
    return backlog.overLimit ? KeptAs.Marker : KeptAs.Whole;
  }

  /** The conversation's oldest unsaved write: the next to be written. */
  first(conversationId: string): UnsavedWrite | undefined {
    return this.backlogs.get(conversationId)?.writes[0];
  }

  /** The oldest unsaved write was written (or refused for good). */
  shift(conversationId: string): void {
    const backlog = this.backlogs.get(conversationId);
    const done = backlog?.writes.shift();
    if (!backlog || !done) return;
    backlog.bytes -= done.bytes;
    this.totalBytes -= done.bytes;
    if (backlog.writes.length === 0) this.backlogs.delete(conversationId);
  }

  count(): UnsavedCount {
    let messages = 0;
    for (const backlog of this.backlogs.values()) for (const { write } of backlog.writes) messages += write.messages.length;
    return { conversations: this.backlogs.size, messages };
  }
}
