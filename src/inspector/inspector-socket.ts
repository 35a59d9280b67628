import type { Config } from '../config/schema.js';
import { ConversationState } from '../machines/conversation-machine.js';
import { ErrorCode, RuntimeError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { AdminVia, createAdminAccess, type AdminAccess, type AdminIdentity, type Authenticate } from '../server/auth.js';
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
import { RevealChannel, type RevealAudit } from './reveal-audit.js';
import { toWireEntry, type TimelineRecord } from './timeline.js';

/** At most this often an `actors` update goes out (about 10 a second), however busy the actors are. */
const ACTOR_LIST_INTERVAL_MS = 100;
/** While an answer streams, the token counts move without any state change: the list is refreshed this often. */
const STREAMING_REFRESH_MS = 250;
/** A socket that has not signed in by then is closed. */
const AUTH_TIMEOUT_MS = 10_000;
/** WebSocket close code for a refused sign-in (policy violation). */
const CLOSE_REFUSED = 1008;

interface Session {
  readonly connection: SocketConnection;
  /** Set once signed in. */
  operator: string | undefined;
  watching: string | undefined;
  readonly revealed: Set<string>;
  /** One socket's messages are handled in order, even when one waits on storage. */
  queue: Promise<void>;
  authTimer: NodeJS.Timeout | undefined;
}

export interface InspectorSocketDeps {
  admin: Config['admin'];
  /** Admin-role JWTs sign in too when this verifies tokens; the `[admin] token` always does. */
  authenticate?: Authenticate;
  actors: () => LiveActors;
  audit: RevealAudit;
  conversationExists: (conversationId: string) => Promise<boolean>;
  statechart: () => StateNodeTree;
  logger: Logger;
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
    const session: Session = { connection, operator: undefined, watching: undefined, revealed: new Set(), queue: Promise.resolve(), authTimer: undefined };
    session.authTimer = setTimeout(() => {
      this.send(session, { type: 'auth_error', code: InspectorErrorCode.Unauthenticated, message: `No "auth" message within ${AUTH_TIMEOUT_MS / 1000} s.` });
      connection.close(CLOSE_REFUSED, 'auth timeout');
    }, AUTH_TIMEOUT_MS);
    session.authTimer.unref();
    this.sessions.set(connection.id, session);
  }

  message(connection: SocketConnection, text: string): void {
    const session = this.sessions.get(connection.id);
    if (!session) return;
    session.queue = session.queue
      .then(() => this.handle(session, text))
      .catch((error: unknown) => {
        this.deps.logger.error({ err: errorMessage(error) }, 'inspector message failed');
        this.send(session, { type: 'error', code: InspectorErrorCode.Internal, message: 'Internal error; see the server log.' });
      });
  }

  close(connection: SocketConnection): void {
    const session = this.sessions.get(connection.id);
    if (!session) return;
    this.sessions.delete(connection.id);
    if (session.authTimer) clearTimeout(session.authTimer);
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
    for (const session of this.sessions.values()) if (session.authTimer) clearTimeout(session.authTimer);
  }

  // ── messages ───────────────────────────────────────────────────────────────────────────────────────────────────

  private async handle(session: Session, text: string): Promise<void> {
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
    if (!this.access.enabled) {
      this.refuse(session, InspectorErrorCode.InspectorDisabled, 'The inspector is closed: no admin token is configured and no admin JWT can be verified. Set [admin] token (or ADMIN_TOKEN), or JWT sign-in ([auth] jwt_secret or jwks_url), and restart.');
      return;
    }
    let identity: AdminIdentity;
    try {
      identity = await this.access.authorize(message.token);
    } catch (error) {
      if (!(error instanceof RuntimeError)) throw error;
      if (error.code === ErrorCode.Forbidden) this.refuse(session, InspectorErrorCode.Forbidden, `${error.message} The inspector is for operators.`);
      else if (error.code === ErrorCode.Unauthenticated) this.refuse(session, InspectorErrorCode.AuthFailed, 'Send {"type":"auth","token":"<[admin] token or an admin JWT>"}.');
      else this.refuse(session, InspectorErrorCode.AuthFailed, error.message);
      return;
    }
    // The socket may have closed while a JWKS was being fetched.
    if (this.closed || this.sessions.get(session.connection.id) !== session) return;
    if (session.authTimer) clearTimeout(session.authTimer);
    session.authTimer = undefined;
    // The shared admin token cannot tell operators apart: they name themselves. A JWT already names its holder.
    session.operator = identity.via === AdminVia.Jwt ? identity.operator : (message.operator ?? identity.operator);
    this.signedIn.add(session);
    this.send(session, { type: 'auth_success', operator: session.operator });
    this.send(session, this.actorListMessage());
    this.startStreamingRefresh();
  }

  private refuse(session: Session, code: InspectorErrorCode, message: string): void {
    this.send(session, { type: 'auth_error', code, message });
    session.connection.close(CLOSE_REFUSED, code);
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
