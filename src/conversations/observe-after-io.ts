import type { InspectionEvent } from 'xstate';
import type { InspectionObserver } from './live-conversation.js';

type Task = () => void;

let queued: Task[] = [];
let scheduled = false;

/** Runs what is queued now: the queue's own drain, and a stopping node's before it closes what the observers write to. */
export function drainObservers(): void {
  const tasks = queued;
  queued = [];
  scheduled = false;
  for (const task of tasks) task();
}

/**
 * The observer, run once this event-loop turn's I/O has gone out rather than inside the actor's step: a chat's first
 * step happens just before its LLM request is written, and an answer's `streaming` step just before its first chunk.
 * "After" is the next loop iteration's check phase: undici 7 writes a request on a kept-alive socket from an immediate
 * it books during this turn, after ours would run. Events keep their order (one queue for every conversation).
 *
 * An observer reads the actor an event went to (XState drops an event sent to a stopped actor right after reporting
 * it): it sees that actor's snapshot as it was when the event was reported, not as it is when the observer runs.
 * What the observer throws goes to `onError`: there is no step left to fail.
 */
export function observeAfterIo(observer: InspectionObserver, onError: (error: unknown) => void): InspectionObserver {
  const safely = (inspection: InspectionEvent) => {
    try {
      observer(inspection);
    } catch (error) {
      onError(error);
    }
  };
  return (inspection) => {
    const seen = inspection.type === '@xstate.event' ? asReported(inspection) : inspection;
    queued.push(() => safely(seen));
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => setImmediate(drainObservers));
  };
}

function asReported(inspection: Extract<InspectionEvent, { type: '@xstate.event' }>): InspectionEvent {
  const snapshot = inspection.actorRef.getSnapshot();
  // Everything else (id, sessionId, system) is read through the actor itself.
  const actorRef = Object.create(inspection.actorRef, { getSnapshot: { value: () => snapshot } }) as typeof inspection.actorRef;
  return { ...inspection, actorRef };
}
