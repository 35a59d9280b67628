import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { parseConfig } from '../src/config/load.js';
import type { ConversationHub } from '../src/conversations/conversation-hub.js';
import { INSPECTOR_SOCKET_PATH } from '../src/inspector/create-inspector.js';
import { createLogger } from '../src/logger.js';
import type { Authenticate } from '../src/server/auth.js';
import { ProtocolHandler, newConnectionState } from '../src/server/protocol-handler.js';
import type { ConversationStore } from '../src/storage/conversation-store.js';
import { TestRuntime } from './support/runtime-harness.js';
import { TEST_JWT_SECRET } from './support/jwt.js';
import { TestClient, textOf, type ConnectOptions } from './support/ws-client.js';

const APP_ORIGIN = 'https://app.example.com';
const FOREIGN_ORIGIN = 'https://evil.example.net';

const JWT_SECRET = 'edge-limits-test-secret-of-32-chars!!';

function userToken(email: string): Promise<string> {
  return new SignJWT({ email }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(JWT_SECRET));
}

function inspectorUrl(rt: TestRuntime): string {
  return `${rt.wsUrl.replace(/\/ws$/, '')}${INSPECTOR_SOCKET_PATH}`;
}

/** Opens a socket, checks it opened, and closes it. */
async function opens(url: string, options: ConnectOptions = {}): Promise<void> {
  const client = await TestClient.connect(url, options);
  await client.close();
}

describe('origin policy and CORS', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await TestRuntime.start({ mcp: false, config: { server: { allowed_origins: [APP_ORIGIN] }, auth: { jwt_secret: JWT_SECRET } } });
  });
  afterAll(() => rt.close());

  it.each([
    ['the chat socket', (r: TestRuntime) => r.wsUrl],
    ['the inspector socket', inspectorUrl],
  ])('%s: refuses a foreign Origin with 403 at the upgrade', async (_name, url) => {
    for (const origin of [FOREIGN_ORIGIN, 'http://app.example.com', 'https://app.example.com:8443', 'null']) {
      const refusal = await TestClient.refused(url(rt), { origin });
      expect(refusal.status, origin).toBe(403);
    }
  });

  it.each([
    ['the chat socket', (r: TestRuntime) => r.wsUrl],
    ['the inspector socket', inspectorUrl],
  ])('%s: lets in an allowed origin, the server\'s own origin, and clients that send no Origin', async (_name, url) => {
    await opens(url(rt), { origin: APP_ORIGIN });
    await opens(url(rt), { origin: rt.httpUrl });
    // Host names are case-insensitive: a proxy may pass the Host header on in capitals.
    const port = new URL(rt.httpUrl).port;
    await opens(url(rt), { origin: `http://localhost:${port}`, headers: { host: `LOCALHOST:${port}` } });
    await opens(url(rt));
  });

  it('a chat socket opened from an allowed origin works end to end', async () => {
    const client = await TestClient.connect(rt.wsUrl, { origin: APP_ORIGIN });
    await client.auth('origin@example.com');
    expect(textOf(await client.chat('hi'))).toBe('Hello from fake Ollama');
    await client.close();
  });

  it('answers a CORS preflight from an allowed origin with 204 and what it may send', async () => {
    const response = await fetch(`${rt.httpUrl}/api/summaries`, {
      method: 'OPTIONS',
      headers: { origin: APP_ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization, x-user-email' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(response.headers.get('vary')).toMatch(/origin/i);
    expect(response.headers.get('access-control-allow-methods')).toMatch(/GET/);
    expect(response.headers.get('access-control-allow-methods')).toMatch(/POST/);
    const allowedHeaders = response.headers.get('access-control-allow-headers') ?? '';
    for (const header of ['authorization', 'content-type', 'x-user-email']) expect(allowedHeaders).toContain(header);
  });

  it('refuses a CORS preflight from a foreign origin with 403 and no CORS headers', async () => {
    const response = await fetch(`${rt.httpUrl}/api/summaries`, {
      method: 'OPTIONS',
      headers: { origin: FOREIGN_ORIGIN, 'access-control-request-method': 'GET' },
    });
    expect(response.status).toBe(403);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('lets an allowed origin read HTTP answers (ACAO on the response), not a foreign one', async () => {
    const allowed = await fetch(`${rt.httpUrl}/health`, { headers: { origin: APP_ORIGIN } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    const foreign = await fetch(`${rt.httpUrl}/health`, { headers: { origin: FOREIGN_ORIGIN } });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const none = await fetch(`${rt.httpUrl}/health`);
    expect(none.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('signs in with a bearer.<jwt> subprotocol at the upgrade and echoes ai-runtime, never the token', async () => {
    const token = await userToken('sub@example.com');
    const client = await TestClient.connect(rt.wsUrl, { protocols: [`bearer.${token}`, 'ai-runtime'] });
    expect(client.socket.protocol).toBe('ai-runtime');
    // Signed in at open, without any message from the client.
    expect(await client.next('auth_success')).toEqual({ type: 'auth_success', email: 'sub@example.com' });
    expect(textOf(await client.chat('hi'))).toBe('Hello from fake Ollama');
    await client.close();
  });

  it('signs in with ?token= at the upgrade; a bad token is an auth_error and the socket stays usable', async () => {
    const good = await TestClient.connect(`${rt.wsUrl}?token=${await userToken('query@example.com')}`);
    expect(await good.next('auth_success')).toEqual({ type: 'auth_success', email: 'query@example.com' });
    await good.close();

    const bad = await TestClient.connect(`${rt.wsUrl}?token=not-a-jwt`);
    expect((await bad.next('auth_error')).code).toBe(ErrorCode.AuthFailed);
    await bad.auth('after-bad-token@example.com');
    await bad.close();
  });

  it('the inspector socket echoes one offered subprotocol, never a bearer token', async () => {
    const client = await TestClient.connect(inspectorUrl(rt), { protocols: ['bearer.secret', 'inspector', 'other'] });
    expect(client.socket.protocol).toBe('inspector');
    await client.close();
  });
});

describe('allowed_origins = ["*"]', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    // Token sign-in: with dev mode, "*" is refused at start (any web page could sign in as anyone).
    rt = await TestRuntime.start({ mcp: false, config: { server: { allowed_origins: ['*'] }, auth: { dev_mode: false, jwt_secret: TEST_JWT_SECRET } } });
  });
  afterAll(() => rt.close());

  it('lets any origin open a socket and read HTTP answers', async () => {
    await opens(rt.wsUrl, { origin: FOREIGN_ORIGIN });
    await opens(inspectorUrl(rt), { origin: FOREIGN_ORIGIN });
    const preflight = await fetch(`${rt.httpUrl}/api/summaries`, { method: 'OPTIONS', headers: { origin: FOREIGN_ORIGIN, 'access-control-request-method': 'GET' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(FOREIGN_ORIGIN);
    const get = await fetch(`${rt.httpUrl}/health`, { headers: { origin: FOREIGN_ORIGIN } });
    expect(get.headers.get('access-control-allow-origin')).toBe(FOREIGN_ORIGIN);
  });
});

describe('connection limits', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await TestRuntime.start({ mcp: false, config: { server: { max_connections: 2 } } });
  });
  afterAll(() => rt.close());

  it('max_connections: the next upgrade gets 503 with Retry-After; a slot freed by a close is usable again', async () => {
    const first = await TestClient.connect(rt.wsUrl);
    const second = await TestClient.connect(rt.wsUrl);
    const refusal = await TestClient.refused(rt.wsUrl);
    expect(refusal.status).toBe(503);
    expect(Number(refusal.headers['retry-after'])).toBeGreaterThan(0);
    expect(refusal.body).toContain('max_connections');
    // Inspector sockets count too: the node is full for them as well.
    expect((await TestClient.refused(inspectorUrl(rt))).status).toBe(503);

    await first.close();
    const third = await TestClient.connect(rt.wsUrl);
    await third.auth('slot@example.com');
    await second.close();
    await third.close();
  });
});

describe('per-user connection limit', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await TestRuntime.start({ mcp: false, config: { server: { max_connections_per_user: 2 } } });
  });
  afterAll(() => rt.close());

  it('a third sign-in of the same user gets too_many_connections and keeps the socket; another user signs in; a close frees a slot', async () => {
    const a1 = await rt.client('busy@example.com');
    const a2 = await rt.client('busy@example.com');
    const a3 = await rt.client();
    a3.send({ type: 'auth', email: 'busy@example.com' });
    const error = await a3.next('auth_error');
    expect(error.code).toBe(ErrorCode.TooManyConnections);
    expect(error.message).toContain('max_connections_per_user');
    a3.send({ type: 'ping' });
    await a3.next('pong');

    const other = await rt.client('other@example.com');
    await a1.close();
    await a3.auth('busy@example.com');
    expect(textOf(await a3.chat('still here'))).toBe('Hello from fake Ollama');

    // The refused sign-in did not count: once a2 and a3 are gone, two new sockets fit again.
    await a2.close();
    await a3.close();
    const b1 = await rt.client('busy@example.com');
    const b2 = await rt.client('busy@example.com');
    await Promise.all([b1.close(), b2.close(), other.close()]);
  });

  it('sockets that send auth and drop at once do not keep a slot', async () => {
    for (let i = 0; i < 4; i++) {
      const client = await TestClient.connect(rt.wsUrl);
      client.send({ type: 'auth', email: 'flaky@example.com' });
      client.socket.terminate();
      await client.closed;
    }
    await sleep(100);
    const a = await rt.client('flaky@example.com');
    const b = await rt.client('flaky@example.com');
    await Promise.all([a.close(), b.close()]);
  });
});

describe('frame and message size', () => {
  const MAX_PAYLOAD = 4096;
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await TestRuntime.start({ mcp: false, config: { server: { max_payload_bytes: MAX_PAYLOAD, max_message_chars: 100 } } });
  });
  afterAll(() => rt.close());

  /** A chat frame of exactly `bytes` bytes. */
  function chatFrame(bytes: number): string {
    const empty = JSON.stringify({ type: 'chat', message: '' });
    return JSON.stringify({ type: 'chat', message: 'x'.repeat(bytes - empty.length) });
  }

  it('a frame of exactly max_payload_bytes is read (here: message_too_long) and the socket stays usable', async () => {
    const client = await rt.client('edge@example.com');
    const frame = chatFrame(MAX_PAYLOAD);
    expect(Buffer.byteLength(frame)).toBe(MAX_PAYLOAD);
    client.sendRaw(frame);
    const error = await client.next('error');
    expect(error.code).toBe(ErrorCode.MessageTooLong);
    expect(error.message).toContain('max_message_chars');
    expect(textOf(await client.chat('x'.repeat(100)))).toBe('Hello from fake Ollama');
    await client.close();
  });

  it('one byte more closes that socket only; the same user\'s other socket keeps streaming', async () => {
    rt.ollama.enqueue({ tokens: ['still', ' ', 'streaming'], delayMs: 50 });
    const bystander = await rt.client('big@example.com');
    bystander.send({ type: 'chat', message: 'go' });
    await bystander.next('chunk');

    const offender = await rt.client('big@example.com');
    offender.sendRaw(chatFrame(MAX_PAYLOAD + 1));
    const { code } = await offender.closed;
    // uWS drops the connection without a close frame: the client sees an abnormal closure.
    expect(code).toBe(1006);
    expect(offender.messages.some((m) => m.type === 'error')).toBe(false);

    await bystander.next('done');
    expect(textOf(bystander.messages)).toBe('still streaming');
    await bystander.close();
  });
});

describe('idle timeout', () => {
  const IDLE_S = 8;
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await TestRuntime.start({ mcp: false, config: { server: { idle_timeout_s: IDLE_S } } });
  });
  afterAll(() => rt.close());

  it('pings within idle_timeout_s; a client that answers stays past it, one that does not is closed', { timeout: 20_000 }, async () => {
    const started = Date.now();
    const answering = await TestClient.connect(rt.wsUrl);
    const silent = await TestClient.connect(rt.wsUrl, { autoPong: false });
    const pings = { answering: [] as number[], silent: [] as number[] };
    answering.socket.on('ping', () => pings.answering.push(Date.now() - started));
    silent.socket.on('ping', () => pings.silent.push(Date.now() - started));

    const { code } = await silent.closed;
    const silentClosedAt = Date.now() - started;
    expect(code).toBe(1006);
    expect(pings.silent.length).toBeGreaterThan(0);
    expect(pings.silent[0]!).toBeLessThan(IDLE_S * 1000);
    // Closed for not answering, around the idle timeout, not at once.
    expect(silentClosedAt).toBeGreaterThan(pings.silent[0]!);
    expect(silentClosedAt).toBeLessThan(IDLE_S * 1000 + 2_000);

    // Past the idle timeout, the client that answers pings is still connected and served.
    await sleep(Math.max(0, IDLE_S * 1000 + 500 - (Date.now() - started)));
    expect(pings.answering.length).toBeGreaterThan(0);
    expect(pings.answering[0]!).toBeLessThan(IDLE_S * 1000);
    answering.send({ type: 'ping' });
    await answering.next('pong');
    await answering.close();
  });
});

describe('per-user connection count under a slow sign-in', () => {
  it('does not count a socket that closed while its token was still being checked', async () => {
    let release: () => void = () => undefined;
    const checked = new Promise<void>((resolve) => (release = resolve));
    const slowAuthenticate: Authenticate = Object.assign(
      async () => {
        await checked;
        return { email: 'slow@example.com', roles: ['user' as const] };
      },
      { verifiesTokens: true },
    );
    const handler = new ProtocolHandler({
      // Sign-in touches neither conversations nor storage.
      hub: undefined as unknown as ConversationHub,
      store: undefined as unknown as ConversationStore,
      authenticate: slowAuthenticate,
      config: parseConfig({}).server,
      logger: createLogger('silent'),
    });
    const sent: string[] = [];
    const connection = { send: (m: string) => void sent.push(m), subscribe: () => undefined, close: () => undefined };
    const state = newConnectionState('127.0.0.1', 'a-token');
    handler.open(connection, state);
    handler.closed(state);
    release();
    await state.queue;
    expect(handler.connectionsOf('slow@example.com')).toBe(0);

    // The same path with the socket still open counts it, and its close uncounts it.
    const open = newConnectionState('127.0.0.1', 'a-token');
    handler.open(connection, open);
    await open.queue;
    expect(handler.connectionsOf('slow@example.com')).toBe(1);
    handler.closed(open);
    expect(handler.connectionsOf('slow@example.com')).toBe(0);
  });
});
