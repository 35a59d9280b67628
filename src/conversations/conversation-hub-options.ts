import type { Logger } from '../logger.js';
import type { ToolDescriptor } from '../mcp/tool-descriptor.js';
import type { ConversationStore } from '../storage/conversation-store.js';
import type { GrantTarget } from './approval-grants.js';
import type { Publisher } from './conversation-channel.js';
import type { CrossNode } from './cross-node.js';
import type { InspectionObserver, LiveConversation } from './live-conversation.js';

export interface ConversationHubOptions {
  store: ConversationStore;
  publisher: Publisher;
  logger: Logger;
  /** Applied to the arguments of an approval that edits them, as to every planned call. */
  prepareArguments: (tool: string, args: Record<string, unknown>, userEmail: string) => Record<string, unknown>;
  /**
   * What "always allow" covers for a restored pending call (decisions are stored by exposed name): the tool that name
   * routes to now, which is also where the call goes once approved.
   */
  grantTarget?: (tool: string) => GrantTarget | undefined;
  /** The mail server's send tool as the catalog has it now, for replies the user proposes; absent: none can be sent. */
  sendMailTool?: () => ToolDescriptor | undefined;
  maxToolSteps: number;
  replayBufferEvents: number;
  /** The replay buffer's bound in characters of serialized events. */
  replayBufferChars: number;
  /** An idle actor is stopped after this long and restored from storage when used again. */
  idleActorTtlMs: number;
  /**
   * Observes a conversation actor's system through XState's inspection API (`createActor(…, { inspect })`).
   * Called once per actor start; may return undefined to leave it uninspected.
   */
  observe?: (conversation: { id: string; userEmail: string }) => InspectionObserver | undefined;
  /** Told when an actor starts (created or restored) and when it is stopped (evicted, closed). */
  lifecycle?: { started(conversation: LiveConversation): void; stopped(conversation: LiveConversation): void };
  metrics?: ConversationHubMetrics;
  /** Storage is shared with other nodes (Postgres): check a live actor against it before use. */
  sharedStorage?: boolean;
  /** Nodes sharing storage and Redis: events through Redis Streams, one node at a time runs a conversation's turn. */
  crossNode?: CrossNode;
  /** Writes of this conversation wait in memory (the database refused them): its actor is not evicted meanwhile. */
  holdsUnsaved?: (conversationId: string) => boolean;
  /** Told when a conversation's turn is over here (quiet again, failed, or its actor stopped): its trace span ends. */
  turns?: { end(conversationId: string, outcome: string): void };
}

/** Called on the per-token path: an implementation must stay as cheap as a counter increment. */
export interface ConversationHubMetrics {
  tokenRelayed(): void;
}
