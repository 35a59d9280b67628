import type { MessageQueue } from '../server/message-queue.js';
import type { ExpiryTimer } from '../server/token-expiry.js';
import type { SocketConnection } from '../server/ws-server.js';

/** A socket that has not signed in by then is closed. */
export const AUTH_TIMEOUT_MS = 10_000;
/** WebSocket close code for a refused sign-in (policy violation). */
export const CLOSE_REFUSED = 1008;

/** One inspector socket. Its messages are handled in order, even when one waits on storage. */
export interface Session extends MessageQueue {
  readonly connection: SocketConnection;
  /** Set once signed in. */
  operator: string | undefined;
  watching: string | undefined;
  readonly revealed: Set<string>;
  authTimer: NodeJS.Timeout | undefined;
  /** Signs the operator out when their admin JWT expires (the shared admin token does not). */
  expiry: ExpiryTimer | undefined;
}

/** A session that calls `onAuthTimeout` unless it signs in within `AUTH_TIMEOUT_MS`. */
export function newSession(connection: SocketConnection, onAuthTimeout: (session: Session) => void): Session {
  const session: Session = { connection, operator: undefined, watching: undefined, revealed: new Set(), queue: Promise.resolve(), queued: 0, authTimer: undefined, expiry: undefined };
  session.authTimer = setTimeout(() => onAuthTimeout(session), AUTH_TIMEOUT_MS).unref();
  return session;
}

/** Stops the session's timers (sign-in deadline, token expiry). Safe to call twice. */
export function stopSessionTimers(session: Session): void {
  clearTimeout(session.authTimer);
  session.authTimer = undefined;
  session.expiry?.cancel();
  session.expiry = undefined;
}
