import type { Config } from '../config/schema.js';
import type { ConversationHub, LiveConversation } from '../conversations/conversation-hub.js';
import { ErrorCode, RuntimeError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConversationStore } from '../storage/conversation-store.js';
import type { EmailSummaryRecord, SummaryStore } from '../storage/summary-store.js';
import type { Authenticate, AuthenticatedUser } from './auth.js';
import { parseClientMessage, type ClientMessage, type ServerMessage } from './protocol.js';

/** What the protocol needs from a socket; uWS stays in `ws-server.ts`, and tests can drive this without one. */
export interface ClientConnection {
  send(message: string): void;
  subscribe(topic: string): void;
}

/** Per-socket state, kept on the socket (uWS userData). */
export interface ConnectionState {
  user?: AuthenticatedUser;
  /** The conversation `chat`, `cancel`, `approve` and `reject` address when they name none. */
  currentConversationId?: string;
  /** Messages of one socket are handled in order, even when one of them waits on storage. */
  queue: Promise<void>;
}

export function newConnectionState(): ConnectionState {
  return { queue: Promise.resolve() };
}

type Authed<M> = M & { user: AuthenticatedUser };

/** The uWS topic of one user's notifications: only that user's sockets subscribe to it. */
export function userTopic(email: string): string {
  return `user:${email}`;
}

export function toNotificationMessage(record: EmailSummaryRecord): Extract<ServerMessage, { type: 'email_notification' }> {
  return { type: 'email_notification', email_id: record.emailId, from: record.from, subject: record.subject, summary: record.summary, created_at: record.createdAt };
}

export interface ProtocolHandlerOptions {
  hub: ConversationHub;
  store: ConversationStore;
  /** Absent when summaries are off: no replay, and acks are accepted and ignored. */
  notifications?: { store: SummaryStore; replayLimit: number };
  authenticate: Authenticate;
  config: Config['server'];
  logger: Logger;
}

/** Turns parsed client messages into conversation events and answers; every failure is an `error` on the socket. */
export class ProtocolHandler {
  constructor(private readonly options: ProtocolHandlerOptions) {}

  /** Queues one raw frame for this connection. Never throws. */
  receive(connection: ClientConnection, state: ConnectionState, text: string): void {
    state.queue = state.queue.then(() => this.handle(connection, state, text)).catch((error: unknown) => this.fail(connection, error));
  }

  private reply(connection: ClientConnection, message: ServerMessage): void {
    connection.send(JSON.stringify(message));
  }

  private fail(connection: ClientConnection, error: unknown): void {
    if (error instanceof RuntimeError) {
      this.reply(connection, { type: 'error', code: error.code, message: error.message });
      return;
    }
    this.options.logger.error({ err: errorMessage(error) }, 'unexpected error handling a message');
    this.reply(connection, { type: 'error', code: ErrorCode.Internal, message: 'Internal error; the message was not processed.' });
  }

  private async handle(connection: ClientConnection, state: ConnectionState, text: string): Promise<void> {
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.reply(connection, { type: 'error', code: parsed.code, message: parsed.message });
      return;
    }
    const message = parsed.message;
    if (message.type === 'ping') return this.reply(connection, { type: 'pong' });
    if (message.type === 'auth') return this.auth(connection, state, message);
    if (!state.user) {
      throw new RuntimeError(ErrorCode.Unauthenticated, `Authenticate before "${message.type}": send {"type":"auth","email":"you@example.com"} first.`);
    }
    const authed = { ...message, user: state.user } as Authed<Exclude<ClientMessage, { type: 'auth' | 'ping' }>>;
    switch (authed.type) {
      case 'chat':
        return this.chat(connection, state, authed);
      case 'cancel':
        this.options.hub.send(await this.addressed(state, authed), { type: 'CANCEL' });
        return;
      case 'approve':
        this.options.hub.send(await this.addressed(state, authed), {
          type: 'APPROVE',
          callId: authed.call_id,
          ...(authed.arguments ? { arguments: authed.arguments } : {}),
          ...(authed.always ? { always: true } : {}),
        });
        return;
      case 'reject':
        this.options.hub.send(await this.addressed(state, authed), { type: 'REJECT', callId: authed.call_id, ...(authed.reason ? { reason: authed.reason } : {}) });
        return;
      case 'resume':
        return this.resume(connection, state, authed);
      case 'new_conversation': {
        const conversation = await this.options.hub.create(authed.user.email);
        this.attach(connection, state, conversation);
        this.reply(connection, this.options.hub.history(conversation));
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

  private async auth(connection: ClientConnection, state: ConnectionState, message: Extract<ClientMessage, { type: 'auth' }>): Promise<void> {
    let user: AuthenticatedUser;
    try {
      user = await this.options.authenticate(message);
      if (state.user && state.user.email !== user.email) {
        throw new RuntimeError(ErrorCode.AuthFailed, `This socket is signed in as ${state.user.email}; open a new connection to switch users.`);
      }
    } catch (error) {
      const code = error instanceof RuntimeError ? error.code : ErrorCode.AuthFailed;
      this.reply(connection, { type: 'auth_error', code, message: errorMessage(error) });
      return;
    }
    const firstAuth = !state.user;
    state.user = user;
    this.reply(connection, { type: 'auth_success', email: user.email });
    if (firstAuth) await this.attachNotifications(connection, user.email);
  }

  /** Live notifications from now on, then what arrived while the user was away (a few may come both ways: dedupe by email_id). */
  private async attachNotifications(connection: ClientConnection, email: string): Promise<void> {
    connection.subscribe(userTopic(email));
    const notifications = this.options.notifications;
    if (!notifications) return;
    const missed = await notifications.store.unacknowledged(email, notifications.replayLimit);
    for (const record of missed) this.reply(connection, toNotificationMessage(record));
  }

  private attach(connection: ClientConnection, state: ConnectionState, conversation: LiveConversation): void {
    state.currentConversationId = conversation.id;
    connection.subscribe(conversation.channel.topic);
  }

  /** The conversation a message names, else the socket's current one. */
  private async addressed(state: ConnectionState, message: Authed<{ conversation_id?: string | undefined }>): Promise<LiveConversation> {
    const id = message.conversation_id ?? state.currentConversationId;
    if (!id) throw new RuntimeError(ErrorCode.NotFound, 'No conversation yet: send a "chat" first, or "resume" one by id.');
    return this.options.hub.open(id, message.user.email);
  }

  private async chat(connection: ClientConnection, state: ConnectionState, message: Authed<Extract<ClientMessage, { type: 'chat' }>>): Promise<void> {
    if (message.message.length > this.options.config.max_message_chars) {
      throw new RuntimeError(
        ErrorCode.MessageTooLong,
        `The message has ${message.message.length} characters; the limit is ${this.options.config.max_message_chars} ([server] max_message_chars).`,
      );
    }
    let conversation: LiveConversation;
    if (message.conversation_id ?? state.currentConversationId) {
      conversation = await this.addressed(state, message);
    } else {
      conversation = await this.options.hub.create(message.user.email, message.message);
      // The client learns the new conversation's id (and seq 0) before its first event.
      this.reply(connection, this.options.hub.history(conversation));
    }
    this.attach(connection, state, conversation);
    this.options.hub.send(conversation, { type: 'CHAT', text: message.message });
  }

  private async resume(connection: ClientConnection, state: ConnectionState, message: Authed<Extract<ClientMessage, { type: 'resume' }>>): Promise<void> {
    const conversation = await this.options.hub.open(message.conversation_id, message.user.email);
    const missed = message.last_seq === undefined ? undefined : conversation.channel.since(message.last_seq);
    // Replay and subscribe happen in one synchronous step, so no live event can fall between them.
    if (missed) {
      for (const event of missed) connection.send(event);
      this.reply(connection, { type: 'resumed', conversation_id: conversation.id, seq: conversation.channel.lastSeq, replayed: missed.length });
    } else {
      this.reply(connection, this.options.hub.history(conversation));
    }
    this.attach(connection, state, conversation);
  }
}
