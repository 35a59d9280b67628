import type { Config } from '../config/schema.js';
import { ConversationState } from '../machines/conversation-machine.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { AdminVia, createAdminAccess, type AdminAccess, type Authenticate } from '../server/auth.js';
import { MAX_QUEUED_MESSAGES, QUEUE_FULL_RETRY_AFTER_MS, RATE_LIMITED_CLOSE_CODE, TOKEN_EXPIRED_CLOSE_CODE } from '../server/connection-state.js';
import { enqueue, enqueueBounded } from '../server/message-queue.js';
import { atExpiry, type ExpiryTimer } from '../server/token-expiry.js';
import type { SocketConnection, SocketHandler } from '../server/ws-server.js';
import type { ActorRecord } from './actor-record.js';
import { Coalescer } from './coalescer.js';
import {
  InspectorErrorCode,
  parseInspectorMessage,
  type InspectorClientMessage,
  type InspectorServerMessage,
  type InspectorServerMessageOf,
  type StateNodeTree,
} from './inspector-protocol.js';
import type { LiveActors, LiveActorsSink } from './live-actors.js';
import { AUTH_TIMEOUT_MS, CLOSE_REFUSED, newSession, stopSessionTimers, type Session } from './inspector-session.js';
import { spendPerIp, signInOperator, type InspectorRateLimits } from './operator-sign-in.js';
import { RevealChannel, type RevealAudit } from './reveal-audit.js';
import { toWireEntry, type TimelineRecord } from './timeline.js';

/** At most this often an `actors` update goes out (about 10 a second), however busy the actors are. */
const ACTOR_LIST_INTERVAL_MS = 100;
/** While an answer streams, the token counts move without any state change: the list is refreshed this often. */
const STREAMING_REFRESH_MS = 250;
export interface InspectorSocketDeps {
  admin: Config['admin'];
  /** Admin-role JWTs sign in too when this verifies tokens; the `[admin] token` always does. */
  authenticate?: Authenticate;
  actors: () => LiveActors;
  audit: RevealAudit;
  conversationExists: (conversationId: string) => Promise<boolean>;
  statechart: () => StateNodeTree;
  logger: Logger;
  /** Absent: nothing is rate limited. */
  limits?: InspectorRateLimits;
}

/**
 * The `/inspector/ws` endpoint, and the fan-out of what the inspection observers record. With no signed-in socket,
 * every sink call returns after one size check or one map lookup.
 */
export class InspectorSocket implements SocketHandler, LiveActorsSink {
  private readonly sessions = new Map<number, Session>();
  /** Signed-in sessions: they get the actor list. */
  private readonly signedIn = new Set<Session>();
  private readonly watchers = new Map<string, Set<Session>>();
  private readonly actorList = new Coalescer(() => this.sendActorList(), ACTOR_LIST_INTERVAL_MS);
  private streamingRefresh: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly access: AdminAccess;

  constructor(private readonly deps: InspectorSocketDeps) {
    this.access = createAdminAccess(deps.admin, deps.authenticate);
  }

  // ── SocketHandler ──────────────────────────────────────────────────────────────────────────────────────────────

  open(connection: SocketConnection): void {
    const session = newSession(connection, () => {
      this.send(session, { type: 'auth_error', code: InspectorErrorCode.Unauthenticated, message: `No "auth" message within ${AUTH_TIMEOUT_MS / 1000} s.` });
      connection.close(CLOSE_REFUSED, 'auth timeout');
    });
    this.sessions.set(connection.id, session);
    // An operator's socket is a socket: it spends the same per-IP connection budget as a chat socket.
    enqueue(
      session,
      async () => {
        const refusal = await spendPerIp(this.deps.limits, 'connections_per_ip', connection.ip);
        if (!refusal) return;
        this.send(session, refusal);
        connection.close(RATE_LIMITED_CLOSE_CODE, 'rate limited: too many new connections');
      },
      (error) => this.failed(session, error),
    );
  }

  message(connection: SocketConnection, text: string): void {
    const session = this.sessions.get(connection.id);
    if (!session) return;
    if (enqueueBounded(session, MAX_QUEUED_MESSAGES, () => this.handle(session, text), (error) => this.failed(session, error))) return;
    this.send(session, { type: 'error', code: InspectorErrorCode.RateLimited, message: `Too many messages waiting on this socket (${MAX_QUEUED_MESSAGES}).`, retry_after_ms: QUEUE_FULL_RETRY_AFTER_MS });
  }

  private failed(session: Session, error: unknown): void {
    this.deps.logger.error({ err: errorMessage(error) }, 'inspector message failed');
    this.send(session, { type: 'error', code: InspectorErrorCode.Internal, message: 'Internal error; see the server log.' });
  }

  close(connection: SocketConnection): void {
    const session = this.sessions.get(connection.id);
    if (!session) return;
    this.sessions.delete(connection.id);
    stopSessionTimers(session);
    this.stopWatching(session);
    this.signedIn.delete(session);
    if (this.signedIn.size === 0) this.stopStreamingRefresh();
  }

  // ── sink: called from the inspection observers ─────────────────────────────────────────────────────────────────

  entry(record: ActorRecord, entry: TimelineRecord): void {
    const watchers = this.watchers.get(record.id);
    if (!watchers) return;
    this.fanOut(watchers, record.id, (reveal) => ({ type: 'entry', conversation_id: record.id, entry: toWireEntry(entry, reveal) }));
  }

  changed(record: ActorRecord): void {
    if (this.signedIn.size > 0) this.actorList.request();
    const watchers = this.watchers.get(record.id);
    if (!watchers) return;
    this.fanOut(watchers, record.id, (reveal) => ({ type: 'context', ...this.actorState(record, reveal) }));
  }

  listChanged(): void {
    if (this.signedIn.size > 0) this.actorList.request();
  }

  /** Stops timers; the server closes the sockets themselves. Safe to call twice. */
  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    this.actorList.stop();
    this.stopStreamingRefresh();
    for (const session of this.sessions.values()) stopSessionTimers(session);
  }

  // ── messages ───────────────────────────────────────────────────────────────────────────────────────────────────

  private async handle(session: Session, text: string): Promise<void> {
    // Before parsing, as on the chat socket: every frame costs, signed in or not, valid or not.
    const limited = await spendPerIp(this.deps.limits, 'messages_per_ip', session.connection.ip);
    if (limited) {
      this.send(session, limited);
      return;
    }
    const parsed = parseInspectorMessage(text);
    if (!parsed.ok) {
      this.send(session, { type: 'error', code: parsed.code, message: parsed.message });
      return;
    }
    const message = parsed.message;
    if (message.type === 'ping') {
      this.send(session, { type: 'pong' });
      return;
    }
    if (message.type === 'auth') {
      await this.authenticate(session, message);
      return;
    }
    const operator = session.operator;
    if (operator === undefined) {
      this.send(session, { type: 'error', code: InspectorErrorCode.Unauthenticated, message: 'Sign in first: {"type":"auth","token":"<[admin] token or an admin JWT>"}.' });
      return;
    }
    switch (message.type) {
      case 'watch':
        this.watch(session, message.conversation_id);
        return;
      case 'unwatch':
        this.stopWatching(session);
        this.send(session, { type: 'unwatched' });
        return;
      case 'reveal':
        await this.reveal(session, operator, message.conversation_id);
        return;
    }
  }

  private async authenticate(session: Session, message: Extract<InspectorClientMessage, { type: 'auth' }>): Promise<void> {
    if (session.operator !== undefined) {
      this.send(session, { type: 'error', code: InspectorErrorCode.InvalidMessage, message: 'Already signed in.' });
      return;
    }
    const signIn = await signInOperator(this.access, this.deps.limits, session.connection.ip, message.token);
    if (!signIn.ok) {
      this.send(session, signIn.refusal);
      session.connection.close(signIn.refusal.code === InspectorErrorCode.RateLimited ? RATE_LIMITED_CLOSE_CODE : CLOSE_REFUSED, signIn.refusal.code);
      return;
    }
    const identity = signIn.identity;
    // The socket may have closed while a JWKS was being fetched.
    if (this.closed || this.sessions.get(session.connection.id) !== session) return;
    if (session.authTimer) clearTimeout(session.authTimer);
    session.authTimer = undefined;
    // The shared admin token cannot tell operators apart: they name themselves. A JWT already names its holder.
    session.operator = identity.via === AdminVia.Jwt ? identity.operator : (message.operator ?? identity.operator);
    this.signedIn.add(session);
    this.signOutAtExpiry(session, identity.expiresAt);
    this.send(session, { type: 'auth_success', operator: session.operator });
    this.send(session, this.actorListMessage());
    this.startStreamingRefresh();
  }

  /** As a chat socket: an admin JWT is checked once, at sign-in; without this the operator would stay in for good. */
  private signOutAtExpiry(session: Session, expiresAt: number | undefined): void {
    if (expiresAt === undefined) return;
    session.expiry = atExpiry(expiresAt, () => {
      this.deps.logger.info({ operator: session.operator }, 'admin token expired: signing the inspector socket out');
      this.send(session, { type: 'auth_error', code: InspectorErrorCode.AuthFailed, message: `Your admin token expired at ${new Date(expiresAt).toISOString()}: sign in again with a fresh one.` });
      session.connection.close(TOKEN_EXPIRED_CLOSE_CODE, 'token expired');
    });
  }

  private watch(session: Session, conversationId: string): void {
    const record = this.deps.actors().get(conversationId);
    if (!record) {
      this.send(session, {
        type: 'error',
        code: InspectorErrorCode.NotFound,
        message: `No live actor for conversation "${conversationId}" on this node. Idle conversations are evicted; it shows up in the actor list when it runs again.`,
      });
      return;
    }
    this.stopWatching(session);
    session.watching = conversationId;
    let watchers = this.watchers.get(conversationId);
    if (!watchers) this.watchers.set(conversationId, (watchers = new Set()));
    watchers.add(session);
    const reveal = session.revealed.has(conversationId);
    this.send(session, { type: 'watching', ...this.actorState(record, reveal), statechart: this.deps.statechart(), revealed: reveal });
    this.sendTimeline(session, record);
  }

  private stopWatching(session: Session): void {
    if (session.watching === undefined) return;
    const watchers = this.watchers.get(session.watching);
    watchers?.delete(session);
    if (watchers?.size === 0) this.watchers.delete(session.watching);
    session.watching = undefined;
  }

  private async reveal(session: Session, operator: string, conversationId: string): Promise<void> {
    const exists = this.deps.actors().get(conversationId) !== undefined || (await this.deps.conversationExists(conversationId));
    if (!exists) {
      this.send(session, { type: 'error', code: InspectorErrorCode.NotFound, message: `No conversation "${conversationId}".` });
      return;
    }
    session.revealed.add(conversationId);
    await this.deps.audit.record(operator, conversationId, RevealChannel.Socket);
    this.send(session, { type: 'revealed', conversation_id: conversationId });
    // What this socket already shows of the conversation is sent again, in clear.
    const record = this.deps.actors().get(conversationId);
    if (record && session.watching === conversationId) {
      this.send(session, { type: 'context', ...this.actorState(record, true) });
      this.sendTimeline(session, record);
    }
  }

  // ── outgoing ───────────────────────────────────────────────────────────────────────────────────────────────────

  private send(session: Session, message: InspectorServerMessage): void {
    session.connection.send(JSON.stringify(message));
  }

  /** Serializes at most twice (redacted, revealed) whatever the number of watchers. */
  private fanOut(watchers: ReadonlySet<Session>, conversationId: string, build: (reveal: boolean) => InspectorServerMessage): void {
    let redacted: string | undefined;
    let revealed: string | undefined;
    for (const session of watchers) {
      if (session.revealed.has(conversationId)) session.connection.send((revealed ??= JSON.stringify(build(true))));
      else session.connection.send((redacted ??= JSON.stringify(build(false))));
    }
  }

  private sendTimeline(session: Session, record: ActorRecord): void {
    const reveal = session.revealed.has(record.id);
    const entries = record.timeline.toArray().map((entry) => toWireEntry(entry, reveal));
    this.send(session, { type: 'timeline', conversation_id: record.id, entries, revealed: reveal });
  }

  private actorState(record: ActorRecord, reveal: boolean): Omit<InspectorServerMessageOf<'context'>, 'type'> {
    return { conversation_id: record.id, state: record.state, since: record.since, tokens: record.tokens, context: record.context(reveal) };
  }

  private actorListMessage(): InspectorServerMessageOf<'actors'> {
    return { type: 'actors', actors: this.deps.actors().list().map((record) => record.summary()) };
  }

  private sendActorList(): void {
    if (this.signedIn.size === 0) return;
    const text = JSON.stringify(this.actorListMessage());
    for (const session of this.signedIn) session.connection.send(text);
  }

  private startStreamingRefresh(): void {
    if (this.streamingRefresh || this.closed) return;
    this.streamingRefresh = setInterval(() => {
      const busy = this.deps.actors().list().some((r) => r.state === ConversationState.Streaming || r.state === ConversationState.Thinking);
      if (busy) this.actorList.request();
    }, STREAMING_REFRESH_MS);
    this.streamingRefresh.unref();
  }

  private stopStreamingRefresh(): void {
    if (this.streamingRefresh) clearInterval(this.streamingRefresh);
    this.streamingRefresh = undefined;
  }
}
