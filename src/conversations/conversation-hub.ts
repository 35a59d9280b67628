import { randomUUID } from 'node:crypto';
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import { ErrorCode, RuntimeError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  ConversationState,
  TurnOutcome,
  wireState,
  type ConversationEmitted,
  type ConversationEvent,
  type ConversationMachine,
} from '../machines/conversation-machine.js';
import type { ServerMessage, UnnumberedEvent } from '../server/protocol.js';
import type { ConversationStore } from '../storage/conversation-store.js';
import type { ChatMessage } from './chat-message.js';
import { ConversationChannel, type Publisher } from './conversation-channel.js';
import { unansweredCallResults } from './history-repair.js';
import { nextPendingApproval } from './tool-batch.js';
import { toWireMessage } from './wire-messages.js';

export interface LiveConversation {
  readonly id: string;
  readonly userEmail: string;
  title: string;
  readonly actor: Actor<ConversationMachine>;
  readonly channel: ConversationChannel;
  lastActiveAt: number;
  readonly startedAt: number;
}

export interface ConversationHubOptions {
  store: ConversationStore;
  publisher: Publisher;
  logger: Logger;
  /** Applied to the arguments of an approval that edits them, as to every planned call. */
  prepareArguments: (tool: string, args: Record<string, unknown>, userEmail: string) => Record<string, unknown>;
  maxToolSteps: number;
  replayBufferEvents: number;
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
}

/** Called on the per-token path: an implementation must stay as cheap as a counter increment. */
export interface ConversationHubMetrics {
  tokenRelayed(): void;
}

export type InspectionObserver = (event: InspectionEvent) => void;

/** Longest title kept from a conversation's first message. */
const TITLE_MAX_CHARS = 80;
/** The idle sweep runs at most this often; eviction needs no precision. */
const MAX_SWEEP_INTERVAL_MS = 30_000;

function toWireEvent(event: ConversationEmitted): UnnumberedEvent {
  switch (event.type) {
    case 'tool_call':
      return { type: 'tool_call', call_id: event.callId, tool: event.tool, args: event.args };
    case 'tool_result':
      return {
        type: 'tool_result',
        call_id: event.callId,
        tool: event.tool,
        args: event.args,
        result: event.result.text,
        ...(event.result.structured ? { structured: event.result.structured } : {}),
        is_error: event.result.isError,
      };
    case 'approval_required':
      return { type: 'approval_required', call_id: event.callId, tool: event.tool, args: event.args };
    case 'error':
      return { type: 'error', code: event.code, message: event.message };
  }
}

/**
 * The live conversation actors of this process. Actors exist only while used: they are created or restored from
 * storage on demand and stopped when idle, so an idle socket costs no actor at all.
 */
export class ConversationHub {
  private readonly live = new Map<string, LiveConversation>();
  private readonly loading = new Map<string, Promise<LiveConversation | undefined>>();
  private machine: ConversationMachine | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: ConversationHubOptions) {
    this.sweepTimer = setInterval(() => void this.sweepIdle(), Math.min(options.idleActorTtlMs / 2, MAX_SWEEP_INTERVAL_MS));
    this.sweepTimer.unref();
  }

  /** The machine is built after the hub, because its LLM actor relays tokens through the hub. */
  useMachine(machine: ConversationMachine): void {
    this.machine = machine;
  }

  /** Token relay for the LLM stream actor: a map lookup, a publish and a counter increment. */
  relay(conversationId: string, text: string): void {
    const conversation = this.live.get(conversationId);
    if (!conversation) return;
    conversation.channel.chunk(text);
    this.options.metrics?.tokenRelayed();
  }

  lastSeq(conversationId: string): number {
    return this.live.get(conversationId)?.channel.lastSeq ?? 0;
  }

  get size(): number {
    return this.live.size;
  }

  async create(userEmail: string, firstMessage?: string): Promise<LiveConversation> {
    const id = randomUUID();
    const title = firstMessage ? firstMessage.slice(0, TITLE_MAX_CHARS) : '';
    await this.options.store.create({ id, userEmail, title });
    return this.start({ id, userEmail, title, lastSeq: 0, messages: [] });
  }

  /** A conversation of this user, live or restored; another user's conversation is reported as not found. */
  async open(id: string, userEmail: string): Promise<LiveConversation> {
    const conversation = this.live.get(id) ?? (await this.load(id));
    if (!conversation || conversation.userEmail !== userEmail) {
      throw new RuntimeError(ErrorCode.NotFound, `No conversation "${id}" for ${userEmail}.`);
    }
    conversation.lastActiveAt = Date.now();
    return conversation;
  }

  private load(id: string): Promise<LiveConversation | undefined> {
    let pending = this.loading.get(id);
    if (!pending) {
      pending = this.restore(id).finally(() => this.loading.delete(id));
      this.loading.set(id, pending);
    }
    return pending;
  }

  private async restore(id: string): Promise<LiveConversation | undefined> {
    const stored = await this.options.store.find(id);
    if (!stored) return undefined;
    const live = this.live.get(id);
    if (live) return live;
    const repairs = unansweredCallResults(stored.messages);
    if (repairs.length > 0) await this.options.store.append(id, stored.messages.length, repairs, stored.lastSeq);
    return this.start({ ...stored, messages: [...stored.messages, ...repairs] });
  }

  private start(stored: { id: string; userEmail: string; title: string; lastSeq: number; messages: ChatMessage[] }): LiveConversation {
    if (!this.machine) throw new Error('ConversationHub.useMachine() was not called');
    if (this.closed) throw new RuntimeError(ErrorCode.Internal, 'The server is shutting down.');
    const channel = new ConversationChannel(stored.id, stored.lastSeq, this.options.replayBufferEvents, this.options.publisher);
    const inspect = this.options.observe?.({ id: stored.id, userEmail: stored.userEmail });
    const actor = createActor(this.machine, {
      id: `conversation:${stored.id}`,
      input: { conversationId: stored.id, userEmail: stored.userEmail, messages: stored.messages, maxToolSteps: this.options.maxToolSteps },
      ...(inspect ? { inspect } : {}),
    });
    const conversation: LiveConversation = {
      id: stored.id,
      userEmail: stored.userEmail,
      title: stored.title,
      actor,
      channel,
      lastActiveAt: Date.now(),
      startedAt: Date.now(),
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
      },
      error: (error) => this.options.logger.error({ conversationId: stored.id, err: errorMessage(error) }, 'conversation actor failed'),
    });
    this.live.set(stored.id, conversation);
    actor.start();
    this.options.lifecycle?.started(conversation);
    return conversation;
  }

  send(conversation: LiveConversation, event: Extract<ConversationEvent, { type: 'CHAT' | 'CANCEL' | 'APPROVE' | 'REJECT' }>): void {
    conversation.lastActiveAt = Date.now();
    if (event.type === 'CHAT' && conversation.title === '') {
      conversation.title = event.text.slice(0, TITLE_MAX_CHARS);
      this.options.store
        .setTitle(conversation.id, conversation.title)
        .catch((err) => this.options.logger.warn({ conversationId: conversation.id, err: errorMessage(err) }, 'could not save title'));
    }
    if (event.type === 'APPROVE' && event.arguments) {
      const { callId, arguments: edited } = event;
      const call = conversation.actor.getSnapshot().context.batch.find((c) => c.id === callId);
      if (call) event = { ...event, arguments: this.options.prepareArguments(call.name, edited, conversation.userEmail) };
    }
    conversation.actor.send(event);
  }

  /** Everything a (re)attaching client needs to draw the conversation; live events after it have a higher `seq`. */
  history(conversation: LiveConversation): Extract<ServerMessage, { type: 'history' }> {
    const snapshot = conversation.actor.getSnapshot();
    const state = wireState(snapshot.value);
    const pending = state === ConversationState.AwaitingApproval ? nextPendingApproval(snapshot.context.batch) : undefined;
    return {
      type: 'history',
      conversation_id: conversation.id,
      title: conversation.title,
      messages: snapshot.context.messages.map(toWireMessage),
      state,
      seq: conversation.channel.lastSeq,
      draft: conversation.channel.draft,
      ...(pending ? { pending_approval: { call_id: pending.id, tool: pending.name, args: pending.arguments } } : {}),
    };
  }

  /** Every live conversation actor of this process. */
  conversations(): LiveConversation[] {
    return [...this.live.values()];
  }

  private async evict(conversation: LiveConversation): Promise<void> {
    this.live.delete(conversation.id);
    conversation.actor.stop();
    this.options.lifecycle?.stopped(conversation);
    await this.options.store.saveLastSeq(conversation.id, conversation.channel.lastSeq);
  }

  async sweepIdle(now = Date.now()): Promise<void> {
    for (const conversation of [...this.live.values()]) {
      const idle = wireState(conversation.actor.getSnapshot().value) === ConversationState.Idle;
      if (idle && now - conversation.lastActiveAt >= this.options.idleActorTtlMs) {
        await this.evict(conversation).catch((err) =>
          this.options.logger.warn({ conversationId: conversation.id, err: errorMessage(err) }, 'could not save sequence on eviction'),
        );
      }
    }
  }

  /** Stops every actor (in-flight answers are cut) and records sequence numbers. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    const results = await Promise.allSettled([...this.live.values()].map((c) => this.evict(c)));
    for (const result of results) {
      if (result.status === 'rejected') this.options.logger.warn({ err: errorMessage(result.reason) }, 'could not save a conversation on close');
    }
  }
}
