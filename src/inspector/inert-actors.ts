import { fromCallback } from 'xstate';
import type { LlmStreamCommand, LlmStreamInput } from '../actors/llm-stream.js';
import type { PersistenceCommand, PersistenceInput } from '../actors/persistence.js';
import type { ToolCallInput } from '../actors/tool-call.js';
import type { EventObject } from 'xstate';
import type { ConversationActors } from '../machines/conversation-machine.js';

/**
 * Child actors that do nothing: the machine can be built and driven (replay, the statechart) without an LLM, a tool
 * or a database, and nothing they would have answered can sneak in. Recorded events play their part instead.
 */
export function inertActors(): ConversationActors {
  return {
    llmStream: fromCallback<LlmStreamCommand, LlmStreamInput>(() => () => undefined),
    toolCall: fromCallback<EventObject, ToolCallInput>(() => () => undefined),
    persistence: fromCallback<PersistenceCommand, PersistenceInput>(() => () => undefined),
  };
}
