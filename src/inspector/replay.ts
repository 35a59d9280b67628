import { createActor, type Actor } from 'xstate';
import { createConversationMachine, wireState, type ConversationMachine } from '../machines/conversation-machine.js';
import { summarizeContext } from './context-summary.js';
import { InvalidExportError, type ParsedExport } from './conversation-export.js';
import { inertActors } from './inert-actors.js';
import type { ReplayStep } from './inspector-protocol.js';

/**
 * Runs a recorded conversation again in fresh actors and reports where the machine stood after each record. The
 * child actors are inert, so nothing reaches the LLM, a tool or the database: every answer they gave live is one of
 * the recorded events. The machine has no timers or randomness of its own, so the same records give the same steps.
 *
 * A `start` record (the actor's input) begins a new actor: a conversation evicted and restored has one per start.
 */
export function replayConversation(exported: ParsedExport): ReplayStep[] {
  const machine: ConversationMachine = createConversationMachine(inertActors());
  const steps: ReplayStep[] = [];
  let actor: Actor<ConversationMachine> | undefined;
  let emitted: string[] = [];
  try {
    for (const record of exported.records) {
      emitted = [];
      if (record.kind === 'start') {
        actor?.stop();
        actor = createActor(machine, { input: record.input });
        actor.on('*', (event) => emitted.push(event.type));
        actor.start();
      } else {
        // parseExport already refuses this; a hand-built ParsedExport could still do it.
        if (!actor) throw new InvalidExportError([`records.${steps.length}: an event before any start record`]);
        actor.send(record.event);
      }
      const snapshot = actor.getSnapshot();
      steps.push({
        index: steps.length,
        seq: record.seq,
        event: record.kind === 'start' ? 'start' : record.event.type,
        state: wireState(snapshot.value),
        // The export is the operator's own document: its content is shown as it is (redacted or not).
        context: summarizeContext(snapshot.context, true),
        emitted,
      });
    }
  } finally {
    actor?.stop();
  }
  return steps;
}
