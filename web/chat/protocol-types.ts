import type { ClientMessage, ServerMessage, WireChatMessage } from '../../src/protocol/protocol.ts';

export type { ClientMessage, ServerMessage, WireChatMessage };
export type Msg<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;
export type ConversationState = Msg<'state'>['state'];
