import { createActor, type Actor, type InspectionEvent } from 'xstate';
import { ErrorCode, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { ConversationState, TurnOutcome, wireState, type ConversationMachine } from '../machines/conversation-machine.js';
import type { ApprovalGrants } from './approval-grants.js';
import type { ChatMessage } from './chat-message.js';
import { ConversationChannel, type EventSink, type Publisher } from './conversation-channel.js';
import type { StreamEvent } from './conversation-streams.js';
import type { BatchCall } from './tool-batch.js';
import { toWireEvent } from './wire-messages.js';

export interface LiveConversation {
  readonly id: string;
  readonly userEmail: string;
  title: string;
  readonly actor: Actor<ConversationMachine>;
  readonly channel: ConversationChannel;
  lastActiveAt: number;
  readonly startedAt: number;
  /**
   * Loaded while another node ran its turn: history as storage had it, unrepaired, shown but never run here. It is
   * reloaded once that turn is over.
   */
  readonly provisional?: boolean;
}

/** What a conversation actor starts from: a new conversation, or one restored from storage. */
export interface StoredConversation {
  id: string;
  userEmail: string;
  title: string;
  lastSeq: number;
  messages: ChatMessage[];
  grants?: ApprovalGrants;
  pendingBatch?: BatchCall[];
  /** The stream's recent events: numbering goes on after them, and a client resuming here replays them. */
  mirrored?: StreamEvent[];
  provisional?: boolean;
}

export type InspectionObserver = (event: InspectionEvent) => void;

/**
 * States that do not hold a shutdown and may be evicted: `idle` has nothing in flight, and `awaiting_approval` waits
 * on a human (its messages and decisions were handed to the writer on the way in, so it is restored from storage,
 * still waiting, like any stopped actor).
 */
export const QUIET_STATES: ReadonlySet<ConversationState> = new Set([ConversationState.Idle, ConversationState.AwaitingApproval]);

/** A turn in flight: an actor that is running and neither idle nor waiting on a human. */
export function isBusy(conversation: LiveConversation): boolean {
  const snapshot = conversation.actor.getSnapshot();
  return snapshot.status === 'active' && !QUIET_STATES.has(wireState(snapshot.value));
}

const CUT_TURN_MESSAGE = 'The server answering this conversation stopped before the answer was finished; what it had written was not saved. Send your message again.';

/**
 * The stream ends inside a turn no node runs any more (the lease is free: its node died). Its text was never stored,
 * so it is no draft; the sockets that watched it, here, get the end of that turn.
 */
function reportCutTurn(channel: ConversationChannel): void {
  const cut = isCutTurn(channel);
  channel.remoteState = undefined;
  channel.dropDraft();
  if (cut) endCutTurn(channel);
}

/** Whether the channel last saw another node in the middle of a turn. */
export function isCutTurn(channel: ConversationChannel): boolean {
  return channel.remoteState !== undefined && !QUIET_STATES.has(channel.remoteState);
}

/** Ends, for the sockets that watched it, a turn another node left unfinished when it died. */
export function endCutTurn(channel: ConversationChannel): void {
  channel.publish({ type: 'error', code: ErrorCode.Interrupted, message: CUT_TURN_MESSAGE });
  channel.publish({ type: 'state', state: ConversationState.Idle });
  channel.publish({ type: 'done', reason: TurnOutcome.Error, cancelled: false });
}

export interface LaunchOptions {
  maxToolSteps: number;
  replayBufferEvents: number;
  replayBufferChars: number;
  publisher: Publisher;
  sink: EventSink | undefined;
  inspect: InspectionObserver | undefined;
  logger: Logger;
  /** After each change of wire state has been published; `failed` after an actor failure (no state follows it). */
  onStateChange(state: ConversationState, failed?: boolean): void;
}

/**
 * A conversation actor wired to its channel: what the machine emits and each change of state become numbered events,
 * and a turn's end is followed by `done`. Not started: the caller registers it first.
 */
export function launchConversation(machine: ConversationMachine, stored: StoredConversation, options: LaunchOptions): LiveConversation {
  const channel = new ConversationChannel(stored.id, stored.lastSeq, options.replayBufferEvents, options.publisher, options.sink, options.replayBufferChars);
  // Before the actor starts: a restored pending approval publishes its state, numbered after what the stream holds.
  channel.mirror(stored.mirrored ?? []);
  if (!stored.provisional) reportCutTurn(channel);
  const actor = createActor(machine, {
    id: `conversation:${stored.id}`,
    input: {
      conversationId: stored.id,
      userEmail: stored.userEmail,
      messages: stored.messages,
      maxToolSteps: options.maxToolSteps,
      ...(stored.grants ? { grants: stored.grants } : {}),
      ...(stored.pendingBatch ? { pendingBatch: stored.pendingBatch } : {}),
    },
    ...(options.inspect ? { inspect: options.inspect } : {}),
  });
  const conversation: LiveConversation = {
    id: stored.id,
    userEmail: stored.userEmail,
    title: stored.title,
    actor,
    channel,
    lastActiveAt: Date.now(),
    startedAt: Date.now(),
    ...(stored.provisional ? { provisional: true } : {}),
  };
  let lastState: ConversationState = ConversationState.Idle;
  actor.on('*', (event) => channel.publish(toWireEvent(event)));
  actor.subscribe({
    next: (snapshot) => {
      const state = wireState(snapshot.value);
      if (state === lastState) return;
      const turnEnded = lastState === ConversationState.Done && state === ConversationState.Idle;
      lastState = state;
      conversation.lastActiveAt = Date.now();
      channel.publish({ type: 'state', state });
      if (turnEnded) channel.publish({ type: 'done', reason: snapshot.context.outcome, cancelled: snapshot.context.outcome === TurnOutcome.Cancelled });
      options.onStateChange(state);
    },
    error: (error) => {
      options.logger.error({ conversationId: stored.id, err: errorMessage(error) }, 'conversation actor failed');
      options.onStateChange(wireState(actor.getSnapshot().value), true);
    },
  });
  return conversation;
}
