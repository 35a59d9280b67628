import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { ErrorCode, RuntimeError } from '../errors.js';

export interface AuthenticatedUser {
  email: string;
}

const DevModeEmail = z.email({ error: 'email must be a valid address' }).max(254);

/**
 * The one place identities are decided. Dev mode is the seed's email-only sign-in (anyone can claim any address);
 * token auth replaces it without touching the callers.
 */
export function createAuthenticator(config: Config['auth']) {
  return async function authenticate(credentials: { email?: string; token?: string }): Promise<AuthenticatedUser> {
    if (!config.dev_mode) {
      throw new RuntimeError(ErrorCode.AuthFailed, 'Email sign-in is disabled on this server ([auth] dev_mode = false) and token sign-in is not configured.');
    }
    if (credentials.email === undefined) throw new RuntimeError(ErrorCode.AuthFailed, 'Send {"type":"auth","email":"you@example.com"}.');
    const email = DevModeEmail.safeParse(credentials.email.trim());
    if (!email.success) throw new RuntimeError(ErrorCode.AuthFailed, `Invalid email "${credentials.email}".`);
    return { email: email.data.toLowerCase() };
  };
}

export type Authenticate = ReturnType<typeof createAuthenticator>;

/** Who is calling an HTTP endpoint. Dev mode: the `X-User-Email` header (or `?email=`); token auth replaces it later. */
export async function authenticateHttp(authenticate: Authenticate, request: { headers: Record<string, string>; query: URLSearchParams }): Promise<AuthenticatedUser> {
  const email = request.headers['x-user-email'] ?? request.query.get('email') ?? undefined;
  return authenticate({ email });
}

/** Admin endpoints: `Authorization: Bearer <[admin] token>`; with no token configured they are closed. */
export function isAdmin(config: Config['admin'], headers: Record<string, string>): boolean {
  if (!config.token) return false;
  const given = Buffer.from(headers.authorization ?? '');
  const expected = Buffer.from(`Bearer ${config.token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
