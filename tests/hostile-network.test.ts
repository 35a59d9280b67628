import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { ErrorCode } from '../src/errors.js';
import { INSPECTOR_SOCKET_PATH } from '../src/inspector/create-inspector.js';
import { clientIp } from '../src/server/client-ip.js';
import { HostPolicy } from '../src/server/host-policy.js';
import { OriginPolicy } from '../src/server/origin-policy.js';
import type { ProtocolHandler } from '../src/server/protocol-handler.js';
import { RuntimeServer, type HttpRoute } from '../src/server/ws-server.js';
import { captureLogs } from './support/log-capture.js';
import { rawRequest } from './support/raw-http.js';
import { TestRuntime } from './support/runtime-harness.js';
import { TestClient, textOf } from './support/ws-client.js';

const MALFORMED = '%E0%A4%A';
const ADMIN_TOKEN = 'hostile-network-admin-token-32-chars';

function inspectorUrl(rt: TestRuntime): string {
  return `${rt.wsUrl.replace(/\/ws$/, '')}${INSPECTOR_SOCKET_PATH}`;
}

describe('malformed requests', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await TestRuntime.start({ mcp: false, config: { admin: { token: ADMIN_TOKEN } } });
  });
  afterAll(() => rt.close());

  it(`a malformed percent-encoding in a route parameter (GET /api/inspector/conversations/${MALFORMED}/export) gets 400 and the process lives`, async () => {
    const answer = await fetch(`${rt.httpUrl}/api/inspector/conversations/${MALFORMED}/export`);
    expect(answer.status).toBe(400);
    const body = (await answer.json()) as { status: string; message: string };
    expect(body.status).toBe('error');
    expect(body.message).toContain('percent-encoded');
    expect(body.message).toContain(MALFORMED);
    // The same on a POST route (its body unread), with and without the admin token.
    const post = await fetch(`${rt.httpUrl}/api/summaries/failed/${MALFORMED}/retry`, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(post.status).toBe(400);
    expect((await fetch(`${rt.httpUrl}/health`)).status).toBe(200);
    const client = await rt.client('alive@example.com');
    expect(textOf(await client.chat('still there?'))).toBe('Hello from fake Ollama');
    await client.close();
  });

  it('a well-formed encoding is decoded for the route', async () => {
    const answer = await fetch(`${rt.httpUrl}/api/inspector/conversations/${encodeURIComponent('no such/conversation ✓')}/export`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(answer.status).toBe(404);
    expect(((await answer.json()) as { message: string }).message).toContain('no such/conversation ✓');
  });

  it('another method on a known path gets 405 with Allow; an unknown path 404; both JSON', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const answer = await fetch(`${rt.httpUrl}/health`, { method });
      expect(answer.status, method).toBe(405);
      expect(answer.headers.get('allow')).toBe('GET, OPTIONS');
      expect(((await answer.json()) as { status: string }).status).toBe('error');
    }
    expect((await fetch(`${rt.httpUrl}/api/webhooks/email`)).headers.get('allow')).toBe('POST, OPTIONS');
    // A HEAD answer has no body, or a kept-alive client would read it as the start of the next answer.
    const port = Number(new URL(rt.httpUrl).port);
    const host = `127.0.0.1:${port}`;
    const pipelined = await rawRequest(port, `HEAD /health HTTP/1.1\r\nHost: ${host}\r\n\r\nHEAD /nowhere HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect(pipelined.head).toMatch(/^HTTP\/1\.1 405 /);
    expect(pipelined.body).toMatch(/^HTTP\/1\.1 404 [^]*\r\n\r\nHTTP\/1\.1 404 [^]*\r\n\r\n\{"status":"error"/);
    const missing = await fetch(`${rt.httpUrl}/no/such/${MALFORMED}`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { message: string }).message).toContain('/no/such/');
  });
});

describe('an exception in a handler', () => {
  const logs = captureLogs('error');
  let server: RuntimeServer;
  const boom = (): never => {
    throw new Error('a bug');
  };
  beforeAll(async () => {
    const config = parseConfig({ server: { listen_addr: '127.0.0.1:0' } }).server;
    const handler = { open: () => undefined, receive: boom, closed: () => undefined } as unknown as ProtocolHandler;
    // Thrown synchronously (not a rejected promise): what a uWS callback would let escape.
    const routes: Record<string, HttpRoute> = { 'GET /boom': boom as HttpRoute, 'POST /boom': boom as HttpRoute, 'GET /bad-answer': async () => ({ status: 200, body: { not: 'text' }, contentType: 'text/plain' }) };
    server = new RuntimeServer({ config, handler, routes, sockets: { '/extra': { message: boom } }, logger: logs.logger });
    await server.listen();
  });
  afterAll(() => server.close());

  it('gets 500 and a log line, and the process lives', async () => {
    const base = `http://127.0.0.1:${server.port}`;
    for (const [method, path] of [['GET', '/boom'], ['POST', '/boom'], ['GET', '/bad-answer']] as const) {
      const answer = await fetch(`${base}${path}`, { method, ...(method === 'POST' ? { body: '{}' } : {}) });
      expect(answer.status, `${method} ${path}`).toBe(500);
      expect(((await answer.json()) as { message: string }).message).toMatch(/internal error/i);
    }
    expect(logs.lines.filter((l) => l.msg === 'unexpected error at the edge')).toHaveLength(3);
  });

  it('on a socket: an internal error frame, the socket stays open', async () => {
    for (const path of ['/ws', '/extra']) {
      const client = await TestClient.connect(`ws://127.0.0.1:${server.port}${path}`);
      client.sendRaw('{"type":"ping"}');
      const error = await client.next('error');
      expect(error.code).toBe(ErrorCode.Internal);
      expect(client.socket.readyState).toBe(client.socket.OPEN);
      await client.close();
    }
  });
});

describe('server.trust_proxy', () => {
  it('counts trusted hops from the right of X-Forwarded-For', () => {
    expect(clientIp('10.0.0.1', '', 1)).toBe('10.0.0.1');
    expect(clientIp('10.0.0.1', '203.0.113.9', 0)).toBe('10.0.0.1');
    expect(clientIp('10.0.0.1', '1.2.3.4, 203.0.113.9', 1)).toBe('203.0.113.9');
    // Two proxies: the outer one appended the client, the inner one (our peer) appended the outer one.
    expect(clientIp('10.0.0.2', '1.2.3.4, 203.0.113.9, 10.0.0.1', 2)).toBe('203.0.113.9');
    // Fewer entries than hops: the left-most.
    expect(clientIp('10.0.0.2', '203.0.113.9', 3)).toBe('203.0.113.9');
    expect(clientIp('10.0.0.2', ' , ,', 1)).toBe('10.0.0.2');
  });

  it('a proxy that appends ip:port cannot give each source port its own rate-limit budget; an entry that is no address is the peer', () => {
    expect(clientIp('10.0.0.1', '1.2.3.4:5555', 1)).toBe('1.2.3.4');
    expect(clientIp('10.0.0.1', '9.9.9.9, 1.2.3.4:6666', 1)).toBe('1.2.3.4');
    expect(clientIp('10.0.0.1', '[2001:DB8::1]:443', 1)).toBe('2001:db8::1');
    expect(clientIp('10.0.0.1', '[2001:db8::1]', 1)).toBe('2001:db8::1');
    expect(clientIp('10.0.0.1', '2001:db8::1', 1)).toBe('2001:db8::1');
    for (const junk of ['unknown', 'evil.example', 'evil.example:80', '1.2.3.4:5555:6', '1.2.3.999', '[1.2.3.4]x']) {
      expect(clientIp('10.0.0.1', `5.5.5.5, ${junk}`, 1), junk).toBe('10.0.0.1');
    }
  });

  it('reads a number of hops; true and false from older config files mean 1 and 0', () => {
    expect(parseConfig({ server: { trust_proxy: 2 } }).server.trust_proxy).toBe(2);
    expect(parseConfig({ server: { trust_proxy: true } }).server.trust_proxy).toBe(1);
    expect(parseConfig({ server: { trust_proxy: false } }).server.trust_proxy).toBe(0);
    expect(parseConfig({}).server.trust_proxy).toBe(0);
    expect(() => parseConfig({ server: { trust_proxy: -1 } })).toThrow();
  });

  describe('behind one trusted proxy', () => {
    const LIMIT = 2;
    let rt: TestRuntime;
    beforeAll(async () => {
      rt = await TestRuntime.start({
        mcp: false,
        config: { server: { trust_proxy: true }, rate_limits: { webhooks_per_ip: { points: LIMIT, duration_s: 60 }, connections_per_ip: { points: LIMIT, duration_s: 60 } } },
      });
    });
    afterAll(() => rt.close());

    it('a client that sends X-Forwarded-For: 1.2.3.4 to dodge per-IP limits is still limited by its real address', async () => {
      // The proxy appended the client's real address (203.0.113.9) to whatever the client sent.
      const statuses: number[] = [];
      for (let i = 0; i < LIMIT + 1; i++) {
        const answer = await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', body: '{}', headers: { 'x-forwarded-for': `1.2.3.${i}, 203.0.113.9` } });
        statuses.push(answer.status);
      }
      // Unsigned: 401 while within the limit, then 429.
      expect(statuses).toEqual([401, 401, 429]);
      // Another real client behind the same proxy is not limited.
      expect((await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', body: '{}', headers: { 'x-forwarded-for': '198.51.100.7' } })).status).toBe(401);
    });

    it('the same on the chat socket, and when the proxy adds its own X-Forwarded-For line', async () => {
      const sockets: TestClient[] = [];
      for (let i = 0; i < LIMIT; i++) {
        const client = await TestClient.connect(rt.wsUrl, { headers: { 'x-forwarded-for': `1.2.4.${i}, 192.0.2.44` } });
        await client.auth(`spoof${i}@example.com`);
        sockets.push(client);
      }
      const limited = await TestClient.connect(rt.wsUrl, { headers: { 'x-forwarded-for': '1.2.4.99, 192.0.2.44' } });
      expect((await limited.next('error')).code).toBe(ErrorCode.RateLimited);
      expect((await limited.closed).code).toBe(1013);
      for (const client of sockets) await client.close();

      // Two header lines: the client's (forged) first, the proxy's second.
      const port = new URL(rt.httpUrl).port;
      const statuses: number[] = [];
      for (let i = 0; i < LIMIT + 1; i++) {
        const answer = await rawRequest(
          Number(port),
          `POST /api/webhooks/email HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Forwarded-For: 9.9.9.${i}\r\nX-Forwarded-For: 192.0.2.55\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
        );
        statuses.push(answer.status);
      }
      expect(statuses).toEqual([401, 401, 429]);
    });
  });
});

describe('[server] max_connections', () => {
  let rt: TestRuntime | undefined;
  afterEach(async () => {
    await rt?.close();
    rt = undefined;
  });

  it('inspector sockets count toward it: a node full of them refuses chat and inspector upgrades with 503', async () => {
    rt = await TestRuntime.start({ mcp: false, config: { server: { max_connections: 2 } } });
    const first = await TestClient.connect(inspectorUrl(rt));
    const second = await TestClient.connect(inspectorUrl(rt));
    expect((await TestClient.refused(rt.wsUrl)).status).toBe(503);
    const inspectorRefusal = await TestClient.refused(inspectorUrl(rt));
    expect(inspectorRefusal.status).toBe(503);
    expect(Number(inspectorRefusal.headers['retry-after'])).toBeGreaterThan(0);
    await first.close();
    const chat = await rt.client('room@example.com');
    expect((await TestClient.refused(inspectorUrl(rt))).status).toBe(503);
    await Promise.all([chat.close(), second.close()]);
  });
});

describe('DNS rebinding against the runtime', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await TestRuntime.start({ mcp: false });
  });
  afterAll(() => rt.close());

  /** One raw request (fetch will not send a forged `Host`), with the Origin a browser would add. */
  const send = (line: string, host: string, origin = `http://${host}`) =>
    rawRequest(rt.runtime.port, `${line} HTTP/1.1\r\nHost: ${host}\r\nOrigin: ${origin}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);

  it('DNS rebinding: a page at http://evil.example:<port> resolved to 127.0.0.1 cannot open /ws, sign in by email, or call any route (403)', async () => {
    const evil = `evil.example:${rt.runtime.port}`;
    for (const url of [rt.wsUrl, inspectorUrl(rt)]) {
      const refusal = await TestClient.refused(url, { origin: `http://${evil}`, headers: { host: evil } });
      expect(refusal.status, url).toBe(403);
      expect(refusal.body).toContain('[server] allowed_hosts');
    }
    for (const line of ['GET /health', 'GET /api/summaries', 'POST /api/generate-summary', 'POST /api/webhooks/email', 'OPTIONS /api/summaries', 'PUT /health', 'GET /nowhere']) {
      const answer = await send(line, evil);
      expect(answer.status, line).toBe(403);
      expect(answer.head, line).not.toMatch(/access-control-allow-origin/i);
      if (!line.startsWith('OPTIONS')) expect(answer.body, line).toContain('[server] allowed_hosts');
    }
  });

  it('answers its own names on the bound port, in any case and with a trailing dot; another port is another server', async () => {
    const port = rt.runtime.port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST.:${port}`, `[::1]:${port}`]) {
      expect((await send('GET /health', host)).status, host).toBe(200);
      const client = await TestClient.connect(rt.wsUrl, { origin: `http://${host}`, headers: { host } });
      await client.close();
    }
    expect((await send('GET /health', `localhost:${port + 1}`)).status).toBe(403);
  });

  it('the same-origin rule counts only under a Host of ours', () => {
    const hosts = new HostPolicy({ listen_addr: '127.0.0.1:8888', allowed_hosts: [] });
    hosts.bind(8888);
    const origins = new OriginPolicy([], hosts);
    expect(origins.allows('http://evil.example:8888', 'evil.example:8888')).toBe(false);
    expect(origins.allows('http://localhost:8888', 'localhost:8888')).toBe(true);
  });

  it('[server] allowed_hosts: enforced on loopback and wherever it is set; not on a wildcard address without it', () => {
    const policy = (listen_addr: string, allowed_hosts: string[] = []) => {
      const hosts = new HostPolicy({ listen_addr, allowed_hosts });
      hosts.bind(8888);
      return hosts;
    };
    const wildcard = policy('0.0.0.0:8888');
    expect(['evil.example:8888', 'chat.example.com', ''].every((host) => wildcard.allows(host))).toBe(true);
    expect(policy('[::]:8888').allows('evil.example:8888')).toBe(true);
    const named = policy('0.0.0.0:8888', ['Chat.Example.com', 'devbox.lan.:9000']);
    for (const host of ['chat.example.com', 'CHAT.example.com.', 'devbox.lan:9000', '127.0.0.1:8888', 'localhost:8888']) expect(named.allows(host), host).toBe(true);
    for (const host of ['evil.example:8888', 'chat.example.com:8888', 'devbox.lan:8888', '']) expect(named.allows(host), host).toBe(false);
    const loopback = policy('127.0.0.1:8888', ['devbox.lan:8888']);
    expect(loopback.allows('devbox.lan:8888')).toBe(true);
    expect(loopback.allows('evil.example:8888')).toBe(false);
    // Before the port is bound nothing can connect; a check then refuses.
    expect(new HostPolicy({ listen_addr: '127.0.0.1:0', allowed_hosts: [] }).allows('127.0.0.1:0')).toBe(false);
  });

  it('rejects an allowed_hosts entry that is no Host value', () => {
    expect(parseConfig({ server: { allowed_hosts: ['chat.example.com', 'devbox.lan:8888', '[::1]:8888'] } }).server.allowed_hosts).toHaveLength(3);
    for (const bad of ['http://chat.example.com', 'chat.example.com/', '', 'a b']) expect(() => parseConfig({ server: { allowed_hosts: [bad] } }), bad).toThrow();
  });
});
