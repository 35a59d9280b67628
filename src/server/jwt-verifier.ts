import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import type { Config } from '../config/schema.js';
import { ErrorCode, RuntimeError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';

/** The only algorithm a shared secret verifies: one secret, one algorithm, nothing to negotiate. */
const SECRET_ALGORITHMS = ['HS256'];
/**
 * Asymmetric algorithms only: an HS token checked against a JWKS would use a *public* key as the HMAC secret (the
 * classic key-confusion forgery), and `none` is no signature at all.
 */
const JWKS_ALGORITHMS = ['RS256', 'ES256'];
/** A JWKS that does not answer within this fails the sign-in rather than holding the socket's queue. */
const JWKS_TIMEOUT_MS = 5_000;
/** Header values echoed in messages are attacker-chosen: a short, quoted excerpt is enough to recognise them. */
const MAX_ECHOED_CHARS = 40;

/** The JWKS could not be fetched or read: the server's problem, not the token's. */
class JwksUnavailableError extends Error {
  constructor(cause: unknown) {
    super('JWKS unavailable', { cause });
    this.name = 'JwksUnavailableError';
  }
}

export interface TokenVerifier {
  /** The verified claims, or a `RuntimeError` (`auth_failed`) saying what is wrong; the token is never echoed. */
  verify(token: string): Promise<JWTPayload>;
}

const quote = (value: unknown): string => JSON.stringify(String(value).slice(0, MAX_ECHOED_CHARS));

/** Whether `[auth]` configures token verification at all. */
export function verifiesTokens(config: Config['auth']): boolean {
  return config.jwt_secret !== '' || config.jwks_url !== '';
}

/** What verifies tokens, for the start-up log: `HS256 …`, `JWKS https://… (RS256, ES256)`, or both. */
export function describeTokenVerification(config: Config['auth']): string {
  const ways = [config.jwt_secret ? 'HS256 with [auth] jwt_secret' : '', config.jwks_url ? `RS256/ES256 with the JWKS at ${config.jwks_url}` : ''];
  return ways.filter(Boolean).join(', and ');
}

/**
 * Verifies user tokens with `jose`: HS256 against `[auth] jwt_secret`, RS256/ES256 against the keys at
 * `[auth] jwks_url` (fetched on first use, cached, refetched for an unknown `kid`). `exp` is required; `iss` and `aud`
 * are checked when configured. Undefined when neither is configured.
 */
export function createTokenVerifier(config: Config['auth'], logger?: Logger): TokenVerifier | undefined {
  if (!verifiesTokens(config)) return undefined;
  const secret = config.jwt_secret ? new TextEncoder().encode(config.jwt_secret) : undefined;
  const jwks = config.jwks_url ? jwksKeys(config.jwks_url, logger) : undefined;
  const accepted = [...(secret ? SECRET_ALGORITHMS : []), ...(jwks ? JWKS_ALGORITHMS : [])];
  const common: JWTVerifyOptions = {
    requiredClaims: ['exp'],
    clockTolerance: config.clock_tolerance_s,
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
  };

  return {
    async verify(token) {
      const alg = algorithmOf(token);
      try {
        // The key is chosen by the header's algorithm, and each key is only tried with its own algorithms.
        if (secret && SECRET_ALGORITHMS.includes(alg)) return (await jwtVerify(token, secret, { ...common, algorithms: SECRET_ALGORITHMS })).payload;
        if (jwks && JWKS_ALGORITHMS.includes(alg)) return (await jwtVerify(token, jwks, { ...common, algorithms: JWKS_ALGORITHMS })).payload;
      } catch (error) {
        throw new RuntimeError(ErrorCode.AuthFailed, explainFailure(error, config), { cause: error });
      }
      const signed = alg === 'none' ? 'unsigned (alg "none")' : `signed with ${quote(alg)}`;
      throw new RuntimeError(ErrorCode.AuthFailed, `The token is ${signed}; this server accepts ${accepted.join(', ')} only.`);
    },
  };
}

/** The header's `alg`, or a clear refusal for something that is not a JWT at all. */
function algorithmOf(token: string): string {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch (error) {
    throw new RuntimeError(ErrorCode.AuthFailed, 'The token is not a JWT (expected three base64url parts: header.payload.signature).', { cause: error });
  }
  if (typeof alg !== 'string') throw new RuntimeError(ErrorCode.AuthFailed, 'The token has no "alg" in its header.');
  return alg;
}

/** The remote key set, with fetch failures told apart from "no such key" (which is the token's fault). */
function jwksKeys(url: string, logger: Logger | undefined): JWTVerifyGetKey {
  const keys = createRemoteJWKSet(new URL(url), { timeoutDuration: JWKS_TIMEOUT_MS });
  return async (header, token) => {
    try {
      return await keys(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      logger?.warn({ jwks_url: url, err: errorMessage(error) }, 'cannot fetch the JWKS: token sign-in fails until it is reachable');
      throw new JwksUnavailableError(error);
    }
  };
}

/** What is wrong with the token, in words a person can act on. */
function explainFailure(error: unknown, config: Config['auth']): string {
  if (error instanceof JwksUnavailableError) {
    return 'Cannot check the token right now: the identity provider\'s key set (JWKS) is unreachable. Try again later.';
  }
  if (error instanceof errors.JWTExpired) {
    const exp = typeof error.payload.exp === 'number' ? ` at ${new Date(error.payload.exp * 1000).toISOString()}` : '';
    return `The token expired${exp}: get a fresh one and sign in again.`;
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const { claim, payload } = error;
    if (claim === 'iss') return `Wrong issuer: the token's "iss" is ${quote(payload.iss ?? '')}, this server expects ${quote(config.issuer)} ([auth] issuer).`;
    if (claim === 'aud') return `Wrong audience: the token's "aud" is ${quote(payload.aud ?? '')}, this server expects ${quote(config.audience)} ([auth] audience).`;
    if (claim === 'exp') return 'The token has no valid "exp" claim: this server only accepts tokens that expire.';
    if (claim === 'nbf') return 'The token is not valid yet (its "nbf" is in the future).';
    return `The token's ${quote(claim)} claim is invalid (${error.reason}).`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'Bad signature: the token was not signed with a key this server trusts.';
  if (error instanceof errors.JWKSNoMatchingKey) return 'Bad signature: no key in the JWKS matches the token\'s "kid" and "alg"; it was not issued by the identity provider this server trusts.';
  if (error instanceof errors.JWKSMultipleMatchingKeys) return 'Several keys in the JWKS match the token: it needs a "kid" header naming one.';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return `The token is malformed: ${error.message}.`;
  if (error instanceof errors.JOSEAlgNotAllowed) return 'The token\'s algorithm is not accepted here.';
  return `The token could not be verified: ${errorMessage(error)}.`;
}
