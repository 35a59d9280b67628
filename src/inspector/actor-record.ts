import type { LiveConversation } from '../conversations/live-conversation.js';
import { ConversationState } from '../machines/conversation-machine.js';
import { pendingTool, summarizeContext } from './context-summary.js';
import type { ActorSummary, ContextSummary } from './inspector-protocol.js';
import { RingBuffer } from './ring-buffer.js';
import type { TimelineRecord } from './timeline.js';

/** Entries kept per actor for inspectors that attach late. */
export const TIMELINE_CAPACITY = 500;

/**
 * What the inspector knows of one live conversation actor. The inspection observer keeps `state`, `since` and the
 * timeline current (a few field writes per event); everything read from the machine context is read on demand.
 */
export class ActorRecord {
  state: ConversationState = ConversationState.Idle;
  since = Date.now();
  /** Set once the hub has started the actor; the context and token count are read through it. */
  conversation: LiveConversation | undefined;
  readonly timeline = new RingBuffer<TimelineRecord>(TIMELINE_CAPACITY);
  /** Child actors alive now, by session id: their id and when they started (performance clock). */
  readonly children = new Map<string, { id: string; startedAt: number }>();
  readonly startedAt = performance.now();
  private seq = 0;

  constructor(
    readonly id: string,
    readonly user: string,
  ) {}

  /** Records an entry and returns it (for live fan-out). */
  add(entry: Omit<TimelineRecord, 'seq' | 'at'>): TimelineRecord {
    const record: TimelineRecord = { seq: ++this.seq, at: Date.now(), ...entry };
    this.timeline.push(record);
    return record;
  }

  get tokens(): number {
    return this.conversation?.channel.tokenCount ?? 0;
  }

  summary(): ActorSummary {
    const context = this.conversation?.actor.getSnapshot().context;
    return {
      id: this.id,
      user: this.user,
      state: this.state,
      since: this.since,
      pending_tool: context ? pendingTool(context) : null,
      tokens: this.tokens,
      step: context?.step ?? 0,
      history_length: context?.messages.length ?? 0,
    };
  }

  context(reveal: boolean): ContextSummary {
    const context = this.conversation?.actor.getSnapshot().context;
    if (!context) return { history_length: 0, step: 0, max_tool_steps: 0, pending_tool: null, pending_approval: null, outcome: 'complete' };
    return summarizeContext(context, reveal);
  }
}
