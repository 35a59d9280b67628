import type { InspectionEvent, Snapshot, StateValue } from 'xstate';
import { wireState } from '../machines/conversation-machine.js';
import { JOURNALED_EVENT_TYPES, START_RECORD } from './journal-format.js';
import { toStoredStart } from './start-record.js';
import type { ActorRecord } from './actor-record.js';
import { TimelineKind } from './inspector-protocol.js';
import type { TimelineRecord } from './timeline.js';

/** Where the observer's results go. Both are called on the actor's hot path: they must return at once when idle. */
export interface InspectionSink {
  /** A timeline entry was recorded. */
  entry(record: ActorRecord, entry: TimelineRecord): void;
  /** The conversation actor took a step (its state or context may have changed). */
  changed(record: ActorRecord): void;
}

export interface JournalWriter {
  append(conversationId: string, type: string, payload: unknown): void;
}

const ROOT_NAME = 'conversation';
const INIT_EVENT = 'xstate.init';

export interface InspectionObserverDeps {
  record: ActorRecord;
  journal: JournalWriter;
  sink: InspectionSink;
  /** Also hands every inspection event on (the Stately inspector), when configured. */
  forward?: (event: InspectionEvent) => void;
}

/** `ActorRefLike` does not declare `id`, though every actor has one (`llm`, `tool:<callId>`, `persistence`). */
function actorId(ref: InspectionEvent['actorRef']): string {
  return 'id' in ref && typeof ref.id === 'string' ? ref.id : ref.sessionId;
}

function nameOf(ref: InspectionEvent['actorRef'], rootId: string): string {
  return ref.sessionId === rootId ? ROOT_NAME : actorId(ref);
}

function stateValue(snapshot: Snapshot<unknown>): StateValue | undefined {
  if (!('value' in snapshot)) return undefined;
  const value: unknown = snapshot.value;
  return typeof value === 'string' || (typeof value === 'object' && value !== null) ? (value as StateValue) : undefined;
}

/**
 * Turns one conversation system's XState inspection events into state, timeline entries and journal records. Per
 * event this is a type switch, a few field writes, a small entry object and, for the conversation's own events, a
 * journal append; nothing is serialized here, and the sink returns at once when no inspector is attached.
 */
export function createInspectionObserver({ record, journal, sink, forward }: InspectionObserverDeps): (event: InspectionEvent) => void {
  const add = (entry: Omit<TimelineRecord, 'seq' | 'at'>) => sink.entry(record, record.add(entry));

  const onEvent = (inspection: Extract<InspectionEvent, { type: '@xstate.event' }>, isRoot: boolean) => {
    const { event, sourceRef } = inspection;
    if (event.type === INIT_EVENT) {
      // The root's init event carries the actor's input: the journal's start record, and what replay starts from.
      // Its history stays in the messages table (see start-record.ts): a restore must not write it all again.
      if (isRoot) journal.append(record.id, START_RECORD, toStoredStart(event.input));
      return;
    }
    // An event relayed to a stopped actor is dropped by XState after this report: replay must not see it either.
    if (isRoot && JOURNALED_EVENT_TYPES.has(event.type) && inspection.actorRef.getSnapshot().status === 'active') {
      journal.append(record.id, event.type, event);
    }
    add({
      kind: TimelineKind.Event,
      type: event.type,
      ...(sourceRef !== undefined ? { from: nameOf(sourceRef, inspection.rootId) } : {}),
      to: nameOf(inspection.actorRef, inspection.rootId),
      raw: event,
    });
  };

  const onSnapshot = ({ snapshot, actorRef: ref, event }: Extract<InspectionEvent, { type: '@xstate.snapshot' }>, isRoot: boolean) => {
    if (!isRoot) {
      if (snapshot.status === 'active') return;
      const child = record.children.get(ref.sessionId);
      if (!child) return;
      record.children.delete(ref.sessionId);
      add({ kind: TimelineKind.ActorStop, type: snapshot.status, actor: child.id, durationMs: performance.now() - child.startedAt });
      return;
    }
    if (snapshot.status !== 'active') {
      add({ kind: TimelineKind.ActorStop, type: snapshot.status, actor: ROOT_NAME, durationMs: performance.now() - record.startedAt });
      sink.changed(record);
      return;
    }
    const value = stateValue(snapshot);
    const state = value === undefined ? record.state : wireState(value);
    if (state !== record.state) {
      const from = record.state;
      record.state = state;
      record.since = Date.now();
      add({ kind: TimelineKind.Transition, type: event.type, from, to: state });
    }
    sink.changed(record);
  };

  return (inspection) => {
    forward?.(inspection);
    const isRoot = inspection.actorRef.sessionId === inspection.rootId;
    switch (inspection.type) {
      case '@xstate.event':
        onEvent(inspection, isRoot);
        return;
      case '@xstate.snapshot':
        onSnapshot(inspection, isRoot);
        return;
      case '@xstate.actor': {
        if (isRoot) {
          add({ kind: TimelineKind.ActorStart, type: 'start', actor: ROOT_NAME });
          return;
        }
        const id = actorId(inspection.actorRef);
        record.children.set(inspection.actorRef.sessionId, { id, startedAt: performance.now() });
        add({ kind: TimelineKind.ActorStart, type: 'start', actor: id });
        return;
      }
      default:
        // Microsteps and actions: the transitions they make up are already seen through the snapshot.
        return;
    }
  };
}
