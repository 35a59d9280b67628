import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dispatcherFetch } from '../src/llm/dispatcher-fetch.js';

/**
 * `dispatcherFetch` against a real HTTP server on loopback: what the provider clients read of a fetch (status, headers,
 * body as a web stream, errors) reads the same as undici's `fetch`, a slow reader holds the socket back rather than
 * buffering the whole answer, and a body read to its end leaves the connection for the next request.
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let url: string;
let handler: Handler;
let agent: Agent;
const sockets = new Set<Socket>();
let connections = 0;

beforeEach(async () => {
  server = createServer((req, res) => handler(req, res));
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  connections = 0;
  agent = new Agent({ keepAliveTimeout: 30_000 });
});

afterEach(async () => {
  await agent.destroy();
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function readAll(body: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of body) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

describe('dispatcherFetch', () => {
  it('sends the method, headers and body, and answers with status, headers and the body in the chunks written', async () => {
    let seen: { method?: string; type?: string; custom?: string; body: string } = { body: '' };
    handler = (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen = { method: req.method, type: req.headers['content-type'], custom: String(req.headers['x-custom']), body };
        res.writeHead(201, { 'Content-Type': 'application/x-ndjson', 'Set-Cookie': ['a=1', 'b=2'] });
        res.write('{"n":1}\n');
        setTimeout(() => res.end('{"n":2}\n'), 20);
      });
    };
    const fetch = dispatcherFetch(agent);
    const response = await fetch(`${url}/api/chat`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Custom': 'yes' }, body: '{"q":1}' });
    expect(seen).toEqual({ method: 'POST', type: 'application/json', custom: 'yes', body: '{"q":1}' });
    expect(response.status).toBe(201);
    expect(response.ok).toBe(true);
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await readAll(response.body!)).toBe('{"n":1}\n{"n":2}\n');
    // A body read to its end gives its connection back: later answers come on kept-alive connections. (Undici's own
    // fetch opens a second one here too, for the second request; without reuse there would be one per request.)
    for (let i = 0; i < 5; i++) {
      const next = await fetch(`${url}/api/chat`, { method: 'POST', body: '{}' });
      expect(await readAll(next.body!)).toBe('{"n":1}\n{"n":2}\n');
    }
    expect(connections).toBeLessThanOrEqual(2);
  });

  it('answers an error status as a response (json and text readable), as fetch does', async () => {
    handler = (_req, res) => {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"error":"model not found"}');
    };
    const response = await dispatcherFetch(agent)(`${url}/api/chat`, { method: 'POST', body: '{}' });
    expect(response.ok).toBe(false);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'model not found' });
  });

  it('a body-less status has a null body, and the next request is answered', async () => {
    handler = (req, res) => {
      res.writeHead(req.url === '/empty' ? 204 : 200);
      res.end(req.url === '/empty' ? undefined : 'after');
    };
    const fetch = dispatcherFetch(agent);
    const empty = await fetch(`${url}/empty`);
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
    expect(await (await fetch(`${url}/next`)).text()).toBe('after');
  });

  it('no server listening: TypeError "fetch failed" with the connection error as its cause', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error: unknown = await dispatcherFetch(agent)(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toMatchObject({ message: 'fetch failed', cause: { code: 'ECONNREFUSED' } });
  });

  it('a connection cut mid-body: the read fails with TypeError "terminated", as fetch says it', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.write('{"n":1}\n');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const response = await dispatcherFetch(agent)(url);
    const error: unknown = await readAll(response.body!).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toMatchObject({ message: 'terminated', cause: expect.any(Error) });
  });

  it('an abort before the answer rejects with the signal\'s reason; one mid-body fails the read and closes the request', async () => {
    let requests = 0;
    let closedByClient = 0;
    handler = (req, res) => {
      requests += 1;
      res.on('close', () => {
        if (!res.writableFinished) closedByClient += 1;
      });
      if (req.url === '/slow') return; // never answers
      res.writeHead(200);
      res.write('first\n');
    };
    const fetch = dispatcherFetch(agent);
    const before = new AbortController();
    const pending = fetch(`${url}/slow`, { signal: before.signal });
    await sleep(20);
    const reason = new Error('stop now');
    before.abort(reason);
    await expect(pending).rejects.toBe(reason);

    const during = new AbortController();
    const response = await fetch(`${url}/stream`, { signal: during.signal });
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('first\n');
    const midBody = new Error('stop mid-body');
    during.abort(midBody);
    // As fetch does: the reason itself, so that the SDKs' "was this an abort?" checks see one.
    await expect(reader.read()).rejects.toBe(midBody);
    await expect.poll(() => closedByClient).toBe(2);
    expect(requests).toBe(2);
  });

  it('a reader that does not read holds the server back (the socket is paused), not the whole answer in memory', async () => {
    const total = 64 * 1024 * 1024;
    let written = 0;
    let finished = false;
    handler = (_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (written < total) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end(() => (finished = true));
      };
      pump();
    };
    const response = await dispatcherFetch(agent)(url);
    const reader = response.body!.getReader();
    await reader.read();
    // Long enough for the whole 64 MiB to cross loopback many times over, were nothing holding it back.
    await sleep(500);
    expect(finished).toBe(false);
    // What the kernel's socket buffers hold, and our read-ahead: megabytes, not the answer.
    expect(written).toBeLessThan(total / 4);
    await reader.cancel();
  });

  it('a body cancelled as it ends, or with data still coming, reports nothing once cancelled (no throw from a listener)', async () => {
    handler = (req, res) => {
      res.writeHead(200);
      if (req.url === '/ends') res.end('x'.repeat(100));
      else {
        res.write('x'.repeat(70_000));
        setTimeout(() => res.end('y'), 5);
      }
    };
    const fetch = dispatcherFetch(agent);
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      for (let i = 0; i < 50; i++) {
        await (await fetch(`${url}/ends`)).body!.cancel();
        const reader = (await fetch(`${url}/more`)).body!.getReader();
        await reader.read();
        await reader.cancel();
      }
      await sleep(50);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
  });

  it('refuses a Request object and a streamed request body, before sending anything', async () => {
    let requests = 0;
    handler = (_req, res) => {
      requests += 1;
      res.end();
    };
    const fetch = dispatcherFetch(agent);
    await expect(fetch(new Request(url))).rejects.toThrow(/takes a URL/);
    await expect(fetch(url, { method: 'POST', body: new ReadableStream() })).rejects.toThrow(/only a string or bytes/);
    expect(requests).toBe(0);
  });
});
