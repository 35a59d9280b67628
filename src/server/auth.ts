import { createHash, timingSafeEqual } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { ErrorCode, HttpError, RuntimeError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { AddressSchema } from '../mail/maildir/mailbox-address.js';
import { createTokenVerifier, describeTokenVerification, verifiesTokens } from './jwt-verifier.js';

export const Role = {
  User: 'user',
  /** Opens the actor inspector and the failed-jobs endpoints. */
  Admin: 'admin',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export interface AuthenticatedUser {
  /** Lower-cased; conversations, summaries and notifications are keyed by it. */
  email: string;
  /** Always includes `user`; `admin` only from a verified token, never from dev mode. */
  roles: readonly Role[];
  /**
   * When the server stops accepting the token (`exp` plus `[auth] clock_tolerance_s`, epoch ms): a socket signed in
   * with it is signed out then, unless it sent a fresh one.
   */
  expiresAt?: number;
}

/** What a client offers: a token (preferred when both are given), or an email address in dev mode. */
export interface Credentials {
  email?: string | undefined;
  token?: string | undefined;
}

export interface Authenticate {
  (credentials: Credentials): Promise<AuthenticatedUser>;
  /** Token sign-in is configured (`[auth] jwt_secret` or `jwks_url`). */
  readonly verifiesTokens: boolean;
}

// The mail side's own address check: `alice@localhost` is a real mailbox here, and `z.email()` wants a TLD.
const Email = AddressSchema;
const RolesClaim = z.union([z.array(z.string()), z.string()]);
const KNOWN_ROLES: ReadonlySet<string> = new Set(Object.values(Role));

/**
 * The one place identities are decided: a JWT verified with `jose` (see `jwt-verifier.ts`), or, only when
 * `[auth] dev_mode` is true, the seed's email-only sign-in where anyone can claim any address.
 */
export function createAuthenticator(config: Config['auth'], options: { logger?: Logger } = {}): Authenticate {
  const verifier = createTokenVerifier(config, options.logger);
  const devMode = config.dev_mode === true;
  const howToSignIn = [verifier ? '{"type":"auth","token":"<JWT>"}' : '', devMode ? '{"type":"auth","email":"you@example.com"}' : ''].filter(Boolean).join(' or ');

  const authenticate = async ({ email, token }: Credentials): Promise<AuthenticatedUser> => {
    if (!verifier && !devMode) {
      throw new RuntimeError(ErrorCode.AuthFailed, 'Nobody can sign in on this server: it has neither token verification ([auth] jwt_secret or jwks_url) nor [auth] dev_mode.');
    }
    if (token !== undefined) {
      if (!verifier) throw new RuntimeError(ErrorCode.AuthFailed, `Token sign-in is not configured on this server ([auth] jwt_secret or jwks_url); send ${howToSignIn}.`);
      return userFromClaims(await verifier.verify(token), config);
    }
    if (email === undefined) throw new RuntimeError(ErrorCode.AuthFailed, `No credentials: send ${howToSignIn}.`);
    if (!devMode) throw new RuntimeError(ErrorCode.AuthFailed, `Email sign-in is off on this server ([auth] dev_mode); send ${howToSignIn}.`);
    const parsed = Email.safeParse(email.trim());
    if (!parsed.success) throw new RuntimeError(ErrorCode.AuthFailed, `Invalid email "${email.slice(0, 254)}".`);
    return { email: parsed.data.toLowerCase(), roles: [Role.User] };
  };
  return Object.assign(authenticate, { verifiesTokens: verifier !== undefined });
}

/** A claim by its exact name, else by a dotted path into nested claims (Keycloak's `realm_access.roles`). */
function claimAt(payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name];
  return name.split('.').reduce<unknown>((value, key) => (value !== null && typeof value === 'object' && Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined), payload);
}

function userFromClaims(payload: JWTPayload, config: Config['auth']): AuthenticatedUser {
  const email = Email.safeParse(claimAt(payload, config.email_claim));
  if (!email.success) {
    throw new RuntimeError(ErrorCode.AuthFailed, `The token has no usable email address in its "${config.email_claim}" claim ([auth] email_claim); users are identified by email.`);
  }
  // An address the identity provider says it has not verified could be anyone's mailbox.
  if (payload.email_verified === false) throw new RuntimeError(ErrorCode.AuthFailed, 'The token\'s email address is not verified ("email_verified": false).');
  const claimed = RolesClaim.safeParse(claimAt(payload, config.roles_claim));
  const names = !claimed.success ? [] : typeof claimed.data === 'string' ? claimed.data.split(/[\s,]+/) : claimed.data;
  // Unknown roles (the identity provider's own) are dropped, not refused: the token is still a valid sign-in.
  const roles = new Set<Role>([Role.User, ...names.map((n) => n.trim().toLowerCase()).filter((n): n is Role => KNOWN_ROLES.has(n))]);
  return { email: email.data.toLowerCase(), roles: [...roles], ...(typeof payload.exp === 'number' ? { expiresAt: (payload.exp + config.clock_tolerance_s) * 1000 } : {}) };
}

/** `Authorization: Bearer <token>`, if that is what the request carries. */
export function bearerToken(headers: Record<string, string>): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '')?.[1];
}

/** Who is calling an HTTP endpoint: `Authorization: Bearer <JWT>`, else (dev mode) `X-User-Email` or `?email=`. */
export async function authenticateHttp(authenticate: Authenticate, request: { headers: Record<string, string>; query: URLSearchParams }): Promise<AuthenticatedUser> {
  const token = bearerToken(request.headers);
  if (token !== undefined) return authenticate({ token });
  return authenticate({ email: request.headers['x-user-email'] ?? request.query.get('email') ?? undefined });
}

/** The signed-in user of an HTTP request (see `authenticateHttp`); `401` with the reason otherwise. */
export async function requireUser(authenticate: Authenticate, request: { headers: Record<string, string>; query: URLSearchParams }): Promise<AuthenticatedUser> {
  try {
    return await authenticateHttp(authenticate, request);
  } catch (error) {
    throw new HttpError(401, error instanceof RuntimeError ? error.message : 'Not authenticated.', { cause: error });
  }
}

// ── admin ──────────────────────────────────────────────────────────────────────────────────────────────────────────

export const AdminVia = {
  /** The shared `[admin] token`: the operator's name is whatever the client says. */
  AdminToken: 'admin_token',
  /** A verified JWT with the `admin` role: the operator is its email. */
  Jwt: 'jwt',
} as const;
export type AdminVia = (typeof AdminVia)[keyof typeof AdminVia];

export interface AdminIdentity {
  operator: string;
  via: AdminVia;
  /** A JWT's `expiresAt` (see `AuthenticatedUser`): a socket signed in with it is signed out then. */
  expiresAt?: number;
}

export interface AdminAccess {
  /** Some credential can open admin endpoints: an `[admin] token` is set, or admin-role JWTs can be verified. */
  readonly enabled: boolean;
  /**
   * The one admin check (inspector socket and endpoints, failed jobs). Throws a `RuntimeError`: `unauthenticated`
   * (no token), `auth_failed` (a token that is neither the admin token nor a valid JWT), `forbidden` (a valid user
   * without the `admin` role, or admin access closed).
   */
  authorize(token: string | undefined): Promise<AdminIdentity>;
}

/** Hashing first makes the comparison constant-time whatever the lengths. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Admin access: the `[admin] token`, and JWTs with the `admin` role when `authenticate` verifies tokens. */
export function createAdminAccess(admin: Config['admin'], authenticate?: Authenticate): AdminAccess {
  const jwts = authenticate?.verifiesTokens === true ? authenticate : undefined;
  const enabled = admin.token !== '' || jwts !== undefined;
  return {
    enabled,
    async authorize(token) {
      if (!enabled) throw new RuntimeError(ErrorCode.Forbidden, 'Admin access is closed: set [admin] token (ADMIN_TOKEN), or configure JWT sign-in and give operators the admin role.');
      if (token === undefined || token === '') throw new RuntimeError(ErrorCode.Unauthenticated, 'Admin credentials required: the [admin] token or a JWT with the admin role.');
      if (admin.token !== '' && sameSecret(token, admin.token)) return { operator: 'admin', via: AdminVia.AdminToken };
      if (!jwts) throw new RuntimeError(ErrorCode.AuthFailed, 'Wrong admin token.');
      let user: AuthenticatedUser;
      try {
        user = await jwts({ token });
      } catch (error) {
        throw new RuntimeError(ErrorCode.AuthFailed, admin.token ? `Neither the [admin] token nor a valid JWT: ${errorMessage(error)}` : errorMessage(error), { cause: error });
      }
      if (!user.roles.includes(Role.Admin)) throw new RuntimeError(ErrorCode.Forbidden, `${user.email} is signed in but lacks the admin role.`);
      return { operator: user.email, via: AdminVia.Jwt, ...(user.expiresAt !== undefined ? { expiresAt: user.expiresAt } : {}) };
    },
  };
}

/** The admin check for HTTP: `Authorization: Bearer …`; 401 without valid credentials, 403 without the admin role. */
export async function authorizeAdmin(access: AdminAccess, headers: Record<string, string>): Promise<AdminIdentity> {
  try {
    return await access.authorize(bearerToken(headers));
  } catch (error) {
    if (!(error instanceof RuntimeError)) throw error;
    throw new HttpError(error.code === ErrorCode.Forbidden ? 403 : 401, error.code === ErrorCode.Unauthenticated ? `${error.message} Send Authorization: Bearer <token>.` : error.message, { cause: error });
  }
}

// ── start-up ───────────────────────────────────────────────────────────────────────────────────────────────────────

/** `npm start` on a laptop with no `[auth]` at all: dev mode, unless the config says `dev_mode = false`. */
export function devModeByDefault(config: Config['auth']): boolean {
  return config.dev_mode === undefined && !verifiesTokens(config);
}

/** Says at start-up how users sign in: a loud warning for dev mode, an error when nobody can. */
export function logAuthSetup(config: Config['auth'], logger: Logger): void {
  const tokens = verifiesTokens(config);
  if (config.dev_mode === true) {
    logger.warn(
      '!!!!!!!! AUTH DEV MODE IS ON: anyone can sign in as ANY email address, with no password or token. Local use only; ' +
        'for anything others can reach set JWT_SECRET (or [auth] jwks_url) and [auth] dev_mode = false. !!!!!!!!',
    );
  }
  if (tokens) logger.info(`user tokens verified: ${describeTokenVerification(config)}; email from the "${config.email_claim}" claim, roles from "${config.roles_claim}"`);
  if (!tokens && config.dev_mode !== true) {
    logger.error('Nobody can sign in: no token verification is configured and dev mode is off. Set JWT_SECRET (or [auth] jwks_url), or [auth] dev_mode = true for local use.');
  }
}
