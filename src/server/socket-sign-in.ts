import type { Config } from '../config/schema.js';
import { ErrorCode, RateLimitedError, RuntimeError, errorMessage } from '../errors.js';
import type { RateLimitScope } from '../limits/rate-limits.js';
import type { Logger } from '../logger.js';
import type { ClientMessage, ServerMessage } from '../protocol/protocol.js';
import type { EmailSummaryRecord, SummaryStore } from '../storage/summary-store.js';
import { wireTriage } from '../triage/triage.js';
import type { Authenticate, AuthenticatedUser } from './auth.js';
import { TOKEN_EXPIRED_CLOSE_CODE, type ClientConnection, type ConnectionState } from './connection-state.js';
import { atExpiry } from './token-expiry.js';

/** The uWS topic of one user's notifications: only that user's sockets subscribe to it. */
export function userTopic(email: string): string {
  return `user:${email}`;
}

export function toNotificationMessage(record: EmailSummaryRecord): Extract<ServerMessage, { type: 'email_notification' }> {
  return { type: 'email_notification', email_id: record.emailId, from: record.from, subject: record.subject, summary: record.summary, created_at: record.createdAt, ...wireTriage(record.triage) };
}

export interface SocketSignInOptions {
  authenticate: Authenticate;
  /** Absent: nothing is rate limited. */
  limits?: { consume(scope: Extract<RateLimitScope, 'auth_per_ip' | 'connections_per_user'>, key: string): Promise<void> };
  config: Pick<Config['server'], 'max_connections_per_user'>;
  /** Absent when summaries are off: nothing to replay at sign-in. */
  notifications?: { store: SummaryStore; replayLimit: number };
  logger: Logger;
}

/**
 * Signing a socket in: the token (or dev-mode email) checked, the user's connection count and rate, a sign-out when the
 * token expires, and the user's notifications, live from then on and those missed meanwhile.
 */
export class SocketSignIn {
  /** Signed-in sockets per user on this node. */
  private readonly socketsPerUser = new Map<string, number>();

  constructor(private readonly options: SocketSignInOptions) {}

  /** Signed-in sockets of this user on this node. */
  connectionsOf(email: string): number {
    return this.socketsPerUser.get(email) ?? 0;
  }

  /** An `auth` message (or the token given at the upgrade): `auth_success`, or `auth_error` and the socket unchanged. */
  async auth(connection: ClientConnection, state: ConnectionState, message: Extract<ClientMessage, { type: 'auth' }>): Promise<void> {
    let user: AuthenticatedUser;
    try {
      // Before the token is looked at: checking one can mean a JWKS fetch.
      await this.options.limits?.consume('auth_per_ip', state.ip);
      user = await this.options.authenticate(message);
      if (state.user && state.user.email !== user.email) {
        throw new RuntimeError(ErrorCode.AuthFailed, `This socket is signed in as ${state.user.email}; open a new connection to switch users.`);
      }
      if (!state.user) await this.admit(user);
    } catch (error) {
      const code = error instanceof RuntimeError ? error.code : ErrorCode.AuthFailed;
      const retry = error instanceof RateLimitedError ? { retry_after_ms: error.retryAfterMs } : {};
      this.options.logger.info({ ip: state.ip, code, via: message.token === undefined ? 'email' : 'token' }, 'sign-in refused');
      reply(connection, { type: 'auth_error', code, message: errorMessage(error), ...retry });
      return;
    }
    // The socket may have closed while the token was checked (a JWKS fetch, a Redis round trip): count nothing then.
    if (state.closed) return;
    const firstAuth = !state.user;
    state.user = user;
    this.signOutAtExpiry(connection, state, user);
    if (firstAuth) {
      state.counted = true;
      this.socketsPerUser.set(user.email, this.connectionsOf(user.email) + 1);
      this.options.logger.info({ user: user.email, ip: state.ip, via: message.token === undefined ? 'email' : 'token' }, 'signed in');
    }
    reply(connection, { type: 'auth_success', email: user.email });
    if (firstAuth) await this.attachNotifications(connection, user.email);
  }

  /** The socket is gone: no sign-out timer, and it no longer counts toward its user's connections. */
  closed(state: ConnectionState): void {
    state.expiry?.cancel();
    if (!state.user || !state.counted) return;
    state.counted = false;
    const left = (this.socketsPerUser.get(state.user.email) ?? 1) - 1;
    if (left > 0) this.socketsPerUser.set(state.user.email, left);
    else this.socketsPerUser.delete(state.user.email);
  }

  /** A fresh token moves the sign-out; one without `exp` keeps the socket signed in. */
  private signOutAtExpiry(connection: ClientConnection, state: ConnectionState, user: AuthenticatedUser): void {
    state.expiry?.cancel();
    delete state.expiry;
    const expiresAt = user.expiresAt;
    if (expiresAt === undefined) return;
    state.expiry = atExpiry(expiresAt, () => {
      this.options.logger.info({ user: user.email, ip: state.ip }, 'token expired: signing the socket out');
      reply(connection, {
        type: 'auth_error',
        code: ErrorCode.AuthFailed,
        message: `Your token expired at ${new Date(expiresAt).toISOString()}: connect again with a fresh one and resume.`,
      });
      connection.close(TOKEN_EXPIRED_CLOSE_CODE, 'token expired');
    });
  }

  /** A socket's first sign-in as `user`: within the user's connection count and rate. */
  private async admit(user: AuthenticatedUser): Promise<void> {
    const max = this.options.config.max_connections_per_user;
    if (this.connectionsOf(user.email) >= max) {
      throw new RuntimeError(ErrorCode.TooManyConnections, `${user.email} already has ${max} open connections here ([server] max_connections_per_user); close one first.`);
    }
    await this.options.limits?.consume('connections_per_user', user.email);
  }

  /** Live notifications from now on, then what arrived while the user was away (a few may come both ways: dedupe by email_id). */
  private async attachNotifications(connection: ClientConnection, email: string): Promise<void> {
    connection.subscribe(userTopic(email));
    const notifications = this.options.notifications;
    if (!notifications) return;
    const missed = await notifications.store.unacknowledged(email, notifications.replayLimit);
    for (const record of missed) reply(connection, toNotificationMessage(record));
  }
}

function reply(connection: ClientConnection, message: ServerMessage): void {
  connection.send(JSON.stringify(message));
}
