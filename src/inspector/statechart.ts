import { createConversationMachine } from '../machines/conversation-machine.js';
import { inertActors } from './inert-actors.js';
import type { StateNodeTree } from './inspector-protocol.js';

interface StateNodeLike {
  id: string;
  key: string;
  states: Record<string, StateNodeLike>;
}

/** A state node and its children, in definition order: what the page needs to draw the chart. */
export function stateTree(node: StateNodeLike): StateNodeTree {
  return { id: node.id, key: node.key, children: Object.values(node.states).map(stateTree) };
}

let cached: StateNodeTree | undefined;

/** The conversation machine's tree, read from its definition (the actors it is given do not change the shape). */
export function conversationStatechart(): StateNodeTree {
  cached ??= stateTree(createConversationMachine(inertActors()).root);
  return cached;
}
