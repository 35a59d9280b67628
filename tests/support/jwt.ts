import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/** HS256 secret the auth tests configure as `[auth] jwt_secret`. */
export const TEST_JWT_SECRET = 'test-jwt-secret-0123456789-abcdefghij';
export const TEST_ISSUER = 'https://id.example.test';
export const TEST_AUDIENCE = 'ai-runtime-tests';

export interface TokenOptions {
  /** Seconds from now; negative for an expired token; `null` for no `exp` at all. @default 600 */
  expiresIn?: number | null;
  /** @default TEST_ISSUER; `null` leaves `iss` out */
  issuer?: string | null;
  /** @default TEST_AUDIENCE; `null` leaves `aud` out */
  audience?: string | null;
  kid?: string;
}

function builder(claims: JWTPayload, options: TokenOptions): SignJWT {
  const { expiresIn = 600, issuer = TEST_ISSUER, audience = TEST_AUDIENCE } = options;
  const jwt = new SignJWT(claims).setIssuedAt();
  if (expiresIn !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expiresIn);
  if (issuer !== null) jwt.setIssuer(issuer);
  if (audience !== null) jwt.setAudience(audience);
  return jwt;
}

/** An HS256 token, signed with `secret` (the configured one unless a test forges with another). */
export function hsToken(claims: JWTPayload, options: TokenOptions & { secret?: string } = {}): Promise<string> {
  return builder(claims, options)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}

/** `alg: none`: a token anyone can write. */
export function unsignedToken(claims: JWTPayload): string {
  return new UnsecuredJWT(claims).setIssuer(TEST_ISSUER).setAudience(TEST_AUDIENCE).setExpirationTime('10m').encode();
}

/** The same header and signature over other claims: what an attacker gets by editing a real token. */
export function withClaims(token: string, claims: JWTPayload): string {
  const [header, , signature] = token.split('.');
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
}

export type AsymmetricAlg = 'RS256' | 'ES256';

interface SigningKey {
  alg: AsymmetricAlg;
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

/**
 * An identity provider's key set over real HTTP: an RS256 and an ES256 key from jose's `generateKeyPair`, published
 * at `url` as a JWKS. `fetches` counts requests, so a test can tell the keys were fetched (and cached).
 */
export class TestJwks {
  fetches = 0;
  private constructor(
    private readonly server: Server,
    private readonly keys: Map<AsymmetricAlg, SigningKey>,
  ) {}

  static async start(): Promise<TestJwks> {
    const keys = new Map<AsymmetricAlg, SigningKey>();
    for (const alg of ['RS256', 'ES256'] as const) {
      const { privateKey, publicKey } = await generateKeyPair(alg);
      const kid = `test-${alg.toLowerCase()}`;
      keys.set(alg, { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } });
    }
    const server = createServer();
    const jwks = new TestJwks(server, keys);
    server.on('request', (req, res) => {
      jwks.fetches += 1;
      if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [...keys.values()].map((k) => k.jwk) }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return jwks;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  /** A token signed by this key set's `alg` key (with its `kid`, unless `options.kid` names another). */
  sign(alg: AsymmetricAlg, claims: JWTPayload, options: TokenOptions = {}): Promise<string> {
    const key = this.keys.get(alg)!;
    return builder(claims, options).setProtectedHeader({ alg, kid: options.kid ?? key.kid, typ: 'JWT' }).sign(key.privateKey);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A token signed by a key pair that is in no key set, under a `kid` that is. */
export async function foreignToken(alg: AsymmetricAlg, kid: string, claims: JWTPayload): Promise<string> {
  const { privateKey } = await generateKeyPair(alg);
  return builder(claims, {}).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(privateKey);
}
