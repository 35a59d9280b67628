import type { InspectionEvent } from 'xstate';
import type { InspectionObserver, LiveConversation } from '../conversations/live-conversation.js';
import { ActorRecord } from './actor-record.js';
import { createInspectionObserver, type InspectionSink, type JournalWriter } from './inspection-observer.js';

export interface LiveActorsSink extends InspectionSink {
  /** An actor started or stopped. */
  listChanged(): void;
}

export interface LiveActorsDeps {
  journal: JournalWriter;
  sink: LiveActorsSink;
  forward?: (event: InspectionEvent) => void;
}

/** The inspector's view of the hub's live actors, fed by the hub's `observe` and `lifecycle` hooks. */
export class LiveActors {
  private readonly records = new Map<string, ActorRecord>();

  constructor(private readonly deps: LiveActorsDeps) {}

  /** The hub's `observe`: one record and one inspection observer per actor start. */
  readonly observe = (conversation: { id: string; userEmail: string }): InspectionObserver => {
    const record = new ActorRecord(conversation.id, conversation.userEmail);
    this.records.set(conversation.id, record);
    return createInspectionObserver({ record, journal: this.deps.journal, sink: this.deps.sink, ...(this.deps.forward ? { forward: this.deps.forward } : {}) });
  };

  /** The hub's `lifecycle`. */
  readonly lifecycle = {
    started: (conversation: LiveConversation): void => {
      const record = this.records.get(conversation.id);
      if (record) record.conversation = conversation;
      this.deps.sink.listChanged();
    },
    stopped: (conversation: LiveConversation): void => {
      // A record belongs to one actor: a later actor of the same conversation has its own.
      const record = this.records.get(conversation.id);
      if (record && (record.conversation === conversation || record.conversation === undefined)) this.records.delete(conversation.id);
      this.deps.sink.listChanged();
    },
  };

  get(conversationId: string): ActorRecord | undefined {
    return this.records.get(conversationId);
  }

  list(): ActorRecord[] {
    return [...this.records.values()];
  }
}
