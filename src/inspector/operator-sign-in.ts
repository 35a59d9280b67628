import { ErrorCode, RateLimitedError, RuntimeError } from '../errors.js';
import type { RateLimitScope } from '../limits/rate-limits.js';
import type { AdminAccess, AdminIdentity } from '../server/auth.js';
import { InspectorErrorCode, type InspectorServerMessageOf } from './inspector-protocol.js';

/** The budgets the inspector socket spends: its connections, frames and sign-ins count with the chat's, per IP. */
export type InspectorScope = Extract<RateLimitScope, 'connections_per_ip' | 'messages_per_ip' | 'auth_per_ip'>;
export interface InspectorRateLimits {
  consume(scope: InspectorScope, key: string): Promise<void>;
}

export type OperatorSignIn = { ok: true; identity: AdminIdentity } | { ok: false; refusal: InspectorServerMessageOf<'auth_error'> };

const refused = (code: InspectorErrorCode, message: string, retryAfterMs?: number): OperatorSignIn => ({
  ok: false,
  refusal: { type: 'auth_error', code, message, ...(retryAfterMs !== undefined ? { retry_after_ms: retryAfterMs } : {}) },
});

/**
 * Spends one point of a per-IP budget shared with chat sockets (a new socket, a frame); the refusal to send, if over.
 */
export async function spendPerIp(limits: InspectorRateLimits | undefined, scope: Exclude<InspectorScope, 'auth_per_ip'>, ip: string): Promise<InspectorServerMessageOf<'error'> | undefined> {
  try {
    await limits?.consume(scope, ip);
    return undefined;
  } catch (error) {
    if (!(error instanceof RateLimitedError)) throw error;
    return { type: 'error', code: InspectorErrorCode.RateLimited, message: error.message, retry_after_ms: error.retryAfterMs };
  }
}

/**
 * One `auth` on the inspector socket: the per-IP sign-in budget first (checking a token can mean a JWKS fetch), then
 * the admin check. A refusal says why, as the socket's `auth_error`; anything else unexpected is thrown.
 */
export async function signInOperator(access: AdminAccess, limits: InspectorRateLimits | undefined, ip: string, token: string | undefined): Promise<OperatorSignIn> {
  if (!access.enabled) {
    return refused(
      InspectorErrorCode.InspectorDisabled,
      'The inspector is closed: no admin token is configured and no admin JWT can be verified. Set [admin] token (or ADMIN_TOKEN), or JWT sign-in ([auth] jwt_secret or jwks_url), and restart.',
    );
  }
  try {
    await limits?.consume('auth_per_ip', ip);
    return { ok: true, identity: await access.authorize(token) };
  } catch (error) {
    if (error instanceof RateLimitedError) return refused(InspectorErrorCode.RateLimited, error.message, error.retryAfterMs);
    if (!(error instanceof RuntimeError)) throw error;
    if (error.code === ErrorCode.Forbidden) return refused(InspectorErrorCode.Forbidden, `${error.message} The inspector is for operators.`);
    if (error.code === ErrorCode.Unauthenticated) return refused(InspectorErrorCode.AuthFailed, 'Send {"type":"auth","token":"<[admin] token or an admin JWT>"}.');
    return refused(InspectorErrorCode.AuthFailed, error.message);
  }
}
