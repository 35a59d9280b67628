import { connect } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailHttpServer } from '../src/mail/mail-http-server.js';
import { captureLogs } from './support/log-capture.js';
import { TestMailServer, toolText } from './support/mail-harness.js';

/** A seeded generator (mulberry32): a failing case can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rnd = random(0x5eed);
const pick = <T,>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
const garbage = (max: number) => Buffer.from(Array.from({ length: Math.floor(rnd() * max) }, () => Math.floor(rnd() * 256)));
const printable = (max: number) => Array.from({ length: Math.floor(rnd() * max) }, () => String.fromCharCode(33 + Math.floor(rnd() * 94))).join('');

/** Writes raw bytes, reads until the server closes; the status of the first response line, or how the exchange ended. */
function exchange(port: number, bytes: Buffer, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout');
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    const done = (fallback: string) => {
      clearTimeout(timer);
      const head = Buffer.concat(chunks).subarray(0, 64).toString('latin1');
      resolve(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? fallback);
    };
    socket.on('close', () => done('closed'));
    socket.on('error', () => undefined);
    socket.end(bytes);
  });
}

function httpRequest(opts: { method?: string; path?: string; host: string; headers?: string[]; body?: Buffer | string }): Buffer {
  const body = typeof opts.body === 'string' ? Buffer.from(opts.body) : (opts.body ?? Buffer.alloc(0));
  const head = [`${opts.method ?? 'POST'} ${opts.path ?? '/mcp'} HTTP/1.1`, `Host: ${opts.host}`, 'Connection: close', `Content-Length: ${body.length}`, ...(opts.headers ?? [])];
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

const MCP_HEADERS = ['Content-Type: application/json', 'Accept: application/json, text/event-stream'];
const JSON_RPC_NOISE: ReadonlyArray<() => string> = [
  () => printable(200),
  () => '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_email","arguments":{"email":' + printable(40),
  () => JSON.stringify({ jsonrpc: '2.0', id: rnd(), method: printable(20), params: printable(50) }),
  () => JSON.stringify({ jsonrpc: '1.0', id: {}, method: 'initialize' }),
  () => JSON.stringify([1, 'x', null, { jsonrpc: '2.0' }]),
  () => JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'read_email', arguments: { email: printable(300), email_id: '../'.repeat(50) } } }),
  () => JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: pick(['send_email', 'list_emails', 'nope']), arguments: [printable(10)] } }),
  () => 'null',
  () => '"a string"',
  () => '{"__proto__":{"polluted":true},"jsonrpc":"2.0","id":1,"method":"ping"}',
  () => '9'.repeat(400),
  () => '['.repeat(5000),
];
const BAD_PATHS = ['/%', '/%zz', '/mcp%00', '//mcp', '/../../etc/passwd', `/mcp?${'a'.repeat(5000)}`, '*', 'http://[', '/\u00ff', '/mcp/tools/../tools'];
const BAD_METHODS = ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'FOO', 'TRACE'];

describe('fuzzing the mail server\'s edges: nothing escapes, the process lives', () => {
  let mail: TestMailServer;
  beforeAll(async () => {
    mail = await TestMailServer.start({ mail: { send_rate: { points: 1000, duration_s: 60 } } });
  });
  afterAll(async () => {
    await mail.close();
  });

  it('HTTP: thousands of malformed requests are each answered (4xx for the bad ones, never 5xx, never a hang), then a normal tool call works', async () => {
    const port = mail.service.mcpPort;
    const good = `127.0.0.1:${port}`;
    const cases: Array<{ kind: string; bytes: () => Buffer }> = [
      { kind: 'bad host', bytes: () => httpRequest({ host: pick([printable(40), 'evil.example', `evil.example:${port}`, '', `127.0.0.1:${port + 1}`]), headers: MCP_HEADERS, body: '{}' }) },
      { kind: 'bad origin', bytes: () => httpRequest({ host: good, headers: [...MCP_HEADERS, `Origin: ${pick(['null', 'http://evil.example', printable(30)])}`], body: '{}' }) },
      { kind: 'bad json-rpc', bytes: () => httpRequest({ host: good, headers: MCP_HEADERS, body: pick(JSON_RPC_NOISE)() }) },
      { kind: 'bad method', bytes: () => httpRequest({ method: pick(BAD_METHODS), path: pick(['/mcp', '/health', '/mcp/tools', '/x']), host: good, headers: MCP_HEADERS }) },
      { kind: 'bad url', bytes: () => httpRequest({ method: pick(['GET', 'POST']), path: pick(BAD_PATHS), host: good, headers: MCP_HEADERS, body: '{}' }) },
      { kind: 'bad headers', bytes: () => httpRequest({ host: good, headers: [pick(['Content-Type: text/plain', 'Accept: text/html', 'Content-Type: application/json', `X: ${printable(100)}`])], body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' }) },
      { kind: 'garbage', bytes: () => Buffer.concat([garbage(300), Buffer.from('\r\n\r\n')]) },
    ];
    const counts: Record<string, Record<string, number>> = {};
    const tally = (kind: string, outcome: string) => {
      counts[kind] ??= {};
      counts[kind][outcome] = (counts[kind][outcome] ?? 0) + 1;
    };
    const TOTAL = 2_800;
    const PARALLEL = 20;
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < TOTAL) {
          next += 1;
          const c = pick(cases);
          tally(c.kind, await exchange(port, c.bytes()));
        }
      }),
    );
    // Huge bodies: a handful is enough to show they are cut off, not buffered.
    const huge = Buffer.alloc(3 * 1024 * 1024, 0x61);
    for (let i = 0; i < 5; i++) tally('huge body', await exchange(port, httpRequest({ host: good, headers: MCP_HEADERS, body: huge })));

    console.info(`HTTP fuzz outcomes: ${JSON.stringify(counts)}`);
    const all = Object.values(counts).flatMap((byOutcome) => Object.entries(byOutcome));
    expect(all.reduce((n, [, count]) => n + count, 0)).toBe(TOTAL + 5);
    expect(all.filter(([outcome]) => /^5/.test(outcome) || outcome === 'timeout')).toEqual([]);
    expect(Object.keys(counts['bad host'] ?? {})).toEqual(expect.arrayContaining(['403']));
    expect(Object.keys(counts['bad host'] ?? {}).every((o) => o === '403' || o === '400')).toBe(true);
    expect(Object.keys(counts['bad origin'] ?? {})).toEqual(['403']);
    for (const outcome of Object.keys(counts['huge body'] ?? {})) expect(['413', 'closed']).toContain(outcome);

    const client = await mail.client();
    expect((await client.listTools()).tools).toHaveLength(7);
    const sent = await client.callTool({ name: 'send_email', arguments: { from: 'alice@example.com', to: 'bob@example.com', subject: 'after the storm', body: 'still here' } });
    expect(sent.isError, toolText(sent)).toBeFalsy();
    await client.close();
  }, 120_000);

  it('SMTP: malformed commands, overlong lines and bad addresses get error replies, then a normal delivery works', async () => {
    const port = mail.service.smtpPort;
    const commands: ReadonlyArray<() => string> = [
      () => printable(80),
      () => `MAIL FROM:<${printable(30)}>`,
      () => `RCPT TO:<${printable(30)}@${printable(10)}>`,
      () => `RCPT TO:<${'a'.repeat(300)}@example.com>`,
      () => 'RCPT TO:<alice@example.com>',
      () => `RCPT TO:<"quoted\\"@x"@example.com>`,
      () => `MAIL FROM:<> SIZE=${pick(['-1', 'abc', '99999999999999999999', ''])}`,
      () => pick(['DATA', 'BDAT 10', 'AUTH PLAIN', 'STARTTLS', 'VRFY root', 'EXPN all', 'HELP', 'NOOP', 'RSET', 'EHLO', 'HELO']),
      () => `EHLO ${printable(300)}`,
      () => 'X'.repeat(4000 + Math.floor(rnd() * 20_000)),
      () => garbage(200).toString('latin1').replace(/\r|\n/g, ''),
      () => 'MAIL FROM:<bob@out.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nno header line\r\n.',
      () => 'MAIL FROM:<bob@out.example>\r\nRCPT TO:<nobody@elsewhere.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nSubject: fuzz\r\n\r\n' + printable(100) + '\r\n.',
    ];
    const replies: Record<string, number> = {};
    const temporary = new Set<string>();
    const SESSIONS = 100;
    const COMMANDS_PER_SESSION = 30;
    let sent = 0;
    await Promise.all(
      Array.from({ length: SESSIONS }, async () => {
        const socket = connect(port, '127.0.0.1');
        let buffer = '';
        let answered = 0;
        let wake: () => void = () => undefined;
        socket.on('data', (c: Buffer) => {
          buffer += c.toString('latin1');
          for (let at = buffer.indexOf('\n'); at >= 0; at = buffer.indexOf('\n')) {
            const line = buffer.slice(0, at);
            buffer = buffer.slice(at + 1);
            if (!/^\d{3} /.test(line)) continue;
            const key = `${line.slice(0, 1)}xx`;
            if (key === '4xx') temporary.add(line.slice(0, 40));
            replies[key] = (replies[key] ?? 0) + 1;
            answered += 1;
            wake();
          }
        });
        socket.on('error', () => undefined);
        const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
        // One reply (or a short wait: a multi-line command may be answered several times, or not at all mid-DATA).
        const replyOrPause = (before: number, ms = 50) =>
          new Promise<void>((resolve) => {
            if (answered > before) return resolve();
            wake = resolve;
            setTimeout(resolve, ms);
          });
        // The greeting first: smtp-server drops "early talkers".
        await replyOrPause(0, 5_000);
        socket.write('EHLO fuzz.example\r\n');
        await replyOrPause(1, 5_000);
        for (let i = 0; i < COMMANDS_PER_SESSION && !socket.destroyed; i++) {
          const before = answered;
          socket.write(`${pick(commands)()}\r\n`);
          sent += 1;
          await replyOrPause(before);
        }
        socket.end('QUIT\r\n');
        await Promise.race([closed, new Promise((r) => setTimeout(r, 3_000))]);
        socket.destroy();
      }),
    );
    console.info(`SMTP fuzz: ${sent} commands over ${SESSIONS} sessions; replies by class: ${JSON.stringify(replies)}`);
    expect(sent).toBeGreaterThan(SESSIONS * 5);
    expect(replies['5xx']).toBeGreaterThan(0);
    // A 451 "local error" would be a bug answered politely: none may be among the temporary failures.
    console.info(`SMTP fuzz temporary failures: ${JSON.stringify([...temporary])}`);
    expect([...temporary].filter((line) => /4\.3\.0/.test(line))).toEqual([]);

    await mail.sendSmtp({ from: 'bob@out.example', to: 'carol@example.com', subject: 'after the fuzz', text: 'delivered' });
    const client = await mail.client();
    const list = (await client.callTool({ name: 'list_emails', arguments: { email: 'carol@example.com' } })).structuredContent as { emails: Array<{ subject: string }> };
    expect(list.emails.map((e) => e.subject)).toContain('after the fuzz');
    await client.close();
  }, 120_000);
});

describe('a bug in the mail HTTP server is a 500 and a log line, not a crash', () => {
  it('an MCP request whose handling throws gets 500, is logged, and the next request is served', async () => {
    const { logger, lines } = captureLogs('debug');
    let calls = 0;
    const server = await MailHttpServer.start({
      host: '127.0.0.1',
      port: 0,
      authToken: '',
      logger,
      createMcpServer: () => {
        calls += 1;
        if (calls === 1) throw new Error('a bug');
        return new McpServer({ name: 'ok', version: '1' });
      },
    });
    try {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
      expect(await exchange(server.port, httpRequest({ host: `127.0.0.1:${server.port}`, headers: MCP_HEADERS, body }))).toBe('500');
      expect(lines.some((l) => l.msg === 'mail HTTP request failed' && JSON.stringify(l).includes('a bug'))).toBe(true);
      expect(await exchange(server.port, httpRequest({ method: 'GET', path: '/health', host: `127.0.0.1:${server.port}` }))).toBe('200');
    } finally {
      await server.close();
    }
  });
});
