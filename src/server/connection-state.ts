import type { AuthenticatedUser } from './auth.js';
import type { MessageQueue } from './message-queue.js';
import type { ExpiryTimer } from './token-expiry.js';

/** What the protocol needs from a socket; uWS stays in `ws-server.ts`, and tests can drive this without one. */
export interface ClientConnection {
  send(message: string): void;
  subscribe(topic: string): void;
  close(code: number, reason: string): void;
}

/** Per-socket state, kept on the socket (uWS userData). Its messages are handled in order, at most `MAX_QUEUED_MESSAGES` waiting. */
export interface ConnectionState extends MessageQueue {
  /** The client's address, for per-IP limits and logs. */
  readonly ip: string;
  /** A token given at the upgrade (`?token=` or the `bearer.<jwt>` subprotocol): the socket signs in with it at open. */
  upgradeToken?: string;
  user?: AuthenticatedUser;
  /** This socket counts toward its user's `max_connections_per_user` until it closes. */
  counted?: boolean;
  /** Set when the socket closes: a sign-in still in flight must not count it. */
  closed?: boolean;
  /** Signs the socket out when its token expires; a fresh `auth` of the same user moves it. */
  expiry?: ExpiryTimer;
  /** The conversation `chat`, `cancel`, `approve` and `reject` address when they name none. */
  currentConversationId?: string;
}

/**
 * Frames of one socket waiting to be handled; past it a frame is refused with `rate_limited` at once. The web UI has
 * a handful in flight at most (sign-in, resume, list); budgets are checked only when a frame's turn comes, so this is
 * what stops a burst from piling up in memory first.
 */
export const MAX_QUEUED_MESSAGES = 32;
/** What a client refused for a full queue is told to wait: the frames before it are being handled meanwhile. */
export const QUEUE_FULL_RETRY_AFTER_MS = 1_000;
/** The rate-limit metric's `scope` label for frames refused by the queue bound. */
export const QUEUE_FULL_SCOPE = 'queued_messages';

export function newConnectionState(ip: string, upgradeToken?: string): ConnectionState {
  return { ip, queue: Promise.resolve(), queued: 0, ...(upgradeToken ? { upgradeToken } : {}) };
}

/** Close code for a socket refused by the per-IP connection rate limit (RFC 6455 "try again later"). */
export const RATE_LIMITED_CLOSE_CODE = 1013;

/** Close code for a socket whose token expired without a fresh `auth`: reconnect with a new token and `resume`. */
export const TOKEN_EXPIRED_CLOSE_CODE = 4001;
