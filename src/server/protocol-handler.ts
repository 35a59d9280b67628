import type { Config } from '../config/schema.js';
import type { ConversationHub } from '../conversations/conversation-hub.js';
import type { LiveConversation } from '../conversations/live-conversation.js';
import { ErrorCode, RateLimitedError, RuntimeError, errorMessage } from '../errors.js';
import type { RateLimitScope } from '../limits/rate-limits.js';
import type { Logger } from '../logger.js';
import { proposalText } from '../replies/reply-proposal.js';
import { historyMessage } from '../conversations/wire-messages.js';
import type { ConversationStore } from '../storage/conversation-store.js';
import type { SummaryStore } from '../storage/summary-store.js';
import type { Authenticate, AuthenticatedUser } from './auth.js';
import {
  MAX_QUEUED_MESSAGES,
  QUEUE_FULL_RETRY_AFTER_MS,
  RATE_LIMITED_CLOSE_CODE,
  type ClientConnection,
  type ConnectionState,
} from './connection-state.js';
import { enqueue, enqueueBounded } from './message-queue.js';
import { parseClientMessage, type ClientMessage, type ServerMessage } from '../protocol/protocol.js';
import { SocketSignIn } from './socket-sign-in.js';

// The socket's side (state, close codes) has its own module; ws-server and tests know them from here.
export * from './connection-state.js';

/** The rate limits the protocol applies; keys are an email or an IP. Throws `RateLimitedError` when one is hit. */
export interface ProtocolRateLimits {
  consume(scope: Exclude<RateLimitScope, 'webhooks_per_ip' | 'summary_requests_per_ip' | 'mail_account_connects_per_user'>, key: string): Promise<void>;
}

type Authed<M> = M & { user: AuthenticatedUser };

export interface ProtocolHandlerOptions {
  hub: ConversationHub;
  store: ConversationStore;
  /** Absent when summaries are off: no replay, and acks are accepted and ignored. */
  notifications?: { store: SummaryStore; replayLimit: number };
  authenticate: Authenticate;
  /** Absent: nothing is rate limited. */
  limits?: ProtocolRateLimits;
  config: Config['server'];
  logger: Logger;
  /** Called when a frame is refused because its socket's queue is full (e.g. `metrics.rateLimitHit`). */
  onQueueFull?: () => void;
}

/** Turns parsed client messages into conversation events and answers; every failure is an `error` on the socket. */
export class ProtocolHandler {
  private readonly signIn: SocketSignIn;

  constructor(private readonly options: ProtocolHandlerOptions) {
    this.signIn = new SocketSignIn(options);
  }

  /** A new socket: the per-IP connection limit, then sign-in with a token given at the upgrade. Never throws. */
  open(connection: ClientConnection, state: ConnectionState): void {
    enqueue(
      state,
      async () => {
        try {
          await this.options.limits?.consume('connections_per_ip', state.ip);
        } catch (error) {
          this.fail(connection, error);
          connection.close(RATE_LIMITED_CLOSE_CODE, 'rate limited: too many new connections');
          return;
        }
        const token = state.upgradeToken;
        delete state.upgradeToken;
        if (token !== undefined) await this.signIn.auth(connection, state, { type: 'auth', token });
      },
      (error) => this.fail(connection, error),
    );
  }

  /** The socket is gone: it no longer counts toward its user's connections. */
  closed(state: ConnectionState): void {
    state.closed = true;
    this.signIn.closed(state);
  }

  /** Signed-in sockets of this user on this node. */
  connectionsOf(email: string): number {
    return this.signIn.connectionsOf(email);
  }

  /** Queues one raw frame for this connection, or refuses it at once when too many wait already. Never throws. */
  receive(connection: ClientConnection, state: ConnectionState, text: string): void {
    const queued = enqueueBounded(
      state,
      MAX_QUEUED_MESSAGES,
      () => this.handle(connection, state, text),
      (error) => this.fail(connection, error),
    );
    if (queued) return;
    this.options.onQueueFull?.();
    this.reply(connection, {
      type: 'error',
      code: ErrorCode.RateLimited,
      message: `Too many messages waiting on this socket (${MAX_QUEUED_MESSAGES}): wait for answers before sending more.`,
      retry_after_ms: QUEUE_FULL_RETRY_AFTER_MS,
    });
  }

  private reply(connection: ClientConnection, message: ServerMessage): void {
    connection.send(JSON.stringify(message));
  }

  private fail(connection: ClientConnection, error: unknown): void {
    if (error instanceof RuntimeError) {
      const retry = error instanceof RateLimitedError ? { retry_after_ms: error.retryAfterMs } : {};
      this.reply(connection, { type: 'error', code: error.code, message: error.message, ...retry });
      return;
    }
    this.options.logger.error({ err: errorMessage(error) }, 'unexpected error handling a message');
    this.reply(connection, { type: 'error', code: ErrorCode.Internal, message: 'Internal error; the message was not processed.' });
  }

  private async handle(connection: ClientConnection, state: ConnectionState, text: string): Promise<void> {
    // Every frame is paid for before it is even parsed: a flood of garbage costs as much as one of valid messages.
    await this.options.limits?.consume('messages_per_ip', state.ip);
    if (state.user) await this.options.limits?.consume('messages_per_user', state.user.email);
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.reply(connection, { type: 'error', code: parsed.code, message: parsed.message });
      return;
    }
    const message = parsed.message;
    if (message.type === 'ping') return this.reply(connection, { type: 'pong' });
    if (message.type === 'auth') return this.signIn.auth(connection, state, message);
    if (!state.user) {
      throw new RuntimeError(ErrorCode.Unauthenticated, `Authenticate before "${message.type}": send {"type":"auth","token":"<jwt>"} (or, in dev mode, {"type":"auth","email":"you@example.com"}) first.`);
    }
    const authed = { ...message, user: state.user } as Authed<Exclude<ClientMessage, { type: 'auth' | 'ping' }>>;
    switch (authed.type) {
      case 'chat':
        return this.chat(connection, state, authed);
      case 'propose_reply':
        return this.proposeReply(connection, state, authed);
      case 'cancel':
        await this.options.hub.cancel(await this.addressed(state, authed));
        return;
      case 'approve':
        this.options.hub.send(await this.claimed(state, authed), {
          type: 'APPROVE',
          callId: authed.call_id,
          ...(authed.arguments ? { arguments: authed.arguments } : {}),
          ...(authed.always ? { always: true } : {}),
        });
        return;
      case 'reject':
        this.options.hub.send(await this.claimed(state, authed), { type: 'REJECT', callId: authed.call_id, ...(authed.reason ? { reason: authed.reason } : {}) });
        return;
      case 'resume':
        return this.resume(connection, state, authed);
      case 'new_conversation': {
        await this.chargeNewConversation(state, authed.user.email);
        const conversation = await this.options.hub.create(authed.user.email);
        this.attach(connection, state, conversation);
        this.reply(connection, historyMessage(conversation));
        return;
      }
      case 'ack_notifications':
        await this.options.notifications?.store.acknowledge(authed.user.email, authed.up_to);
        return;
      case 'list_conversations': {
        const conversations = await this.options.store.listForUser(authed.user.email);
        this.reply(connection, {
          type: 'conversations',
          conversations: conversations.map((c) => ({ id: c.id, title: c.title, created_at: c.createdAt, updated_at: c.updatedAt })),
        });
        return;
      }
    }
  }

  private attach(connection: ClientConnection, state: ConnectionState, conversation: LiveConversation): void {
    state.currentConversationId = conversation.id;
    connection.subscribe(conversation.channel.topic);
    this.options.hub.watching(conversation);
  }

  /** The conversation a message names, else the socket's current one. */
  private async addressed(state: ConnectionState, message: Authed<{ conversation_id?: string | undefined }>): Promise<LiveConversation> {
    const id = message.conversation_id ?? state.currentConversationId;
    if (!id) throw new RuntimeError(ErrorCode.NotFound, 'No conversation yet: send a "chat" first, or "resume" one by id.');
    return this.options.hub.open(id, message.user.email);
  }

  /** The addressed conversation, with its turn taken for this node for a decision (another node may be running it). */
  private async claimed(state: ConnectionState, message: Authed<{ conversation_id?: string | undefined }>): Promise<LiveConversation> {
    const conversation = await this.addressed(state, message);
    await this.options.hub.claim(conversation, 'DECISION');
    return conversation;
  }

  private async chat(connection: ClientConnection, state: ConnectionState, message: Authed<Extract<ClientMessage, { type: 'chat' }>>): Promise<void> {
    this.checkLength(message.message, 'The message');
    // Before any work: a limited message starts nothing and is not stored; the client resends it after the wait.
    await this.chargeTurn(state, message.user.email);
    const conversation = await this.turnConversation(connection, state, message, message.message);
    await this.options.hub.claim(conversation, 'CHAT');
    this.options.hub.send(conversation, { type: 'CHAT', text: message.message });
  }

  /** The user's reply as a `send_email` call waiting for their approval; a turn like a chat message (the LLM answers after it). */
  private async proposeReply(connection: ClientConnection, state: ConnectionState, message: Authed<Extract<ClientMessage, { type: 'propose_reply' }>>): Promise<void> {
    this.checkLength(message.body, 'The reply');
    await this.chargeTurn(state, message.user.email);
    const reply = { to: message.to, subject: message.subject, body: message.body };
    // Before any conversation is made for it: without a send tool there is nothing to propose.
    const call = this.options.hub.replyCall(message.user.email, reply);
    const text = proposalText(reply);
    const conversation = await this.turnConversation(connection, state, message, text);
    await this.options.hub.claim(conversation, 'CHAT');
    this.options.hub.send(conversation, { type: 'PROPOSE', text, call });
  }

  private checkLength(text: string, what: string): void {
    const max = this.options.config.max_message_chars;
    if (text.length > max) throw new RuntimeError(ErrorCode.MessageTooLong, `${what} has ${text.length} characters; the limit is ${max} ([server] max_message_chars).`);
  }

  private async chargeTurn(state: ConnectionState, email: string): Promise<void> {
    await this.options.limits?.consume('chat_per_user', email);
    await this.options.limits?.consume('chat_per_ip', state.ip);
  }

  /** The conversation a new turn goes to: the one named, else the socket's current one, else a new one (titled `firstMessage`). */
  private async turnConversation(
    connection: ClientConnection,
    state: ConnectionState,
    message: Authed<{ conversation_id?: string | undefined }>,
    firstMessage: string,
  ): Promise<LiveConversation> {
    let conversation: LiveConversation;
    if (message.conversation_id ?? state.currentConversationId) {
      conversation = await this.addressed(state, message);
    } else {
      await this.chargeNewConversation(state, message.user.email);
      conversation = await this.options.hub.create(message.user.email, firstMessage);
      // The client learns the new conversation's id (and seq 0) before its first event.
      this.reply(connection, historyMessage(conversation));
    }
    this.attach(connection, state, conversation);
    return conversation;
  }

  /** A new conversation is a stored row and a live actor: it has its own, tighter budget on top of the message's. */
  private async chargeNewConversation(state: ConnectionState, email: string): Promise<void> {
    await this.options.limits?.consume('conversations_per_user', email);
    await this.options.limits?.consume('conversations_per_ip', state.ip);
  }

  private async resume(connection: ClientConnection, state: ConnectionState, message: Authed<Extract<ClientMessage, { type: 'resume' }>>): Promise<void> {
    const conversation = await this.options.hub.open(message.conversation_id, message.user.email);
    const missed = message.last_seq === undefined ? undefined : conversation.channel.since(message.last_seq);
    // Replay and subscribe happen in one synchronous step, so no live event can fall between them.
    if (missed) {
      for (const event of missed) connection.send(event);
      this.reply(connection, { type: 'resumed', conversation_id: conversation.id, seq: conversation.channel.lastSeq, replayed: missed.length });
    } else {
      this.reply(connection, historyMessage(conversation));
    }
    this.attach(connection, state, conversation);
  }
}
