import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createTransport } from 'nodemailer';
import { pino, type Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmailWebhookPayloadSchema, MAX_BODY_CHARS, WebhookResult, WebhookSender, webhookPayloadFrom, type EmailWebhookPayload } from '../src/mail/email-webhook.js';
import type { StoredCopyRef } from '../src/mail/outbox/announcement-outbox.js';
import { SmtpIntake, stripMboxSeparator } from '../src/mail/smtp-intake.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook, verifyWebhook } from '../src/mail/webhook-signature.js';

const SECRET = 'test-webhook-secret';
const LIMIT = 64 * 1024;

// ---------------------------------------------------------------- helpers

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as LogLine);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

interface HookRequest {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver; answers with the queued statuses in order, then 200. */
class HookServer {
  readonly requests: HookRequest[] = [];
  readonly statuses: number[] = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<HookServer> {
    const server = createServer();
    const hooks = new HookServer(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        hooks.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.statusCode = hooks.statuses.shift() ?? 200;
        if (res.statusCode === 429 || res.statusCode === 503) res.setHeader('retry-after', '7');
        res.end(res.statusCode < 300 ? 'ok' : `nope ${res.statusCode}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return hooks;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/email?token=abc`;
  }

  payloads(): EmailWebhookPayload[] {
    return this.requests.map((r) => EmailWebhookPayloadSchema.parse(JSON.parse(r.body)));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Reply {
  code: number;
  lines: string[];
  text: string;
}

/** Speaks SMTP line by line, so tests see the exact replies. */
class SmtpLineClient {
  private buffer = '';
  private readonly lines: string[] = [];
  private wake: (() => void) | undefined;
  private ended: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      let at: number;
      while ((at = this.buffer.indexOf('\r\n')) >= 0) {
        this.lines.push(this.buffer.slice(0, at));
        this.buffer = this.buffer.slice(at + 2);
      }
      this.wake?.();
    });
    const end = () => {
      this.ended ??= new Error('The server closed the connection.');
      this.wake?.();
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  static async open(port: number): Promise<{ client: SmtpLineClient; greeting: Reply }> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const client = new SmtpLineClient(socket);
    return { client, greeting: await client.reply() };
  }

  async reply(): Promise<Reply> {
    const lines: string[] = [];
    for (;;) {
      const line = this.lines.shift();
      if (line === undefined) {
        if (this.ended) throw this.ended;
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      lines.push(line);
      if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
        return { code: Number(line.slice(0, 3)), lines, text: lines.map((l) => l.slice(4)).join('\n') };
      }
    }
  }

  async command(line: string): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** Sends message content after a 354 and the terminating dot; returns the final reply. */
  async data(content: string | Buffer): Promise<Reply> {
    this.socket.write(content);
    this.socket.write('\r\n.\r\n');
    return this.reply();
  }

  /** Writes raw bytes without waiting for a reply. */
  write(content: string | Buffer): void {
    this.socket.write(content);
  }

  /** Writes and hangs up without a terminator, like a client that crashed. */
  abort(partial: string): void {
    this.socket.end(partial);
  }

  async quit(): Promise<void> {
    await this.command('QUIT').catch(() => undefined);
    this.socket.destroy();
  }
}

function message(headers: Record<string, string>, body: string): string {
  return `${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n${body}`;
}

// ---------------------------------------------------------------- signatures

describe('webhook signature', () => {
  const body = '{"hello":"world"}';

  it('signs `${timestamp}.${body}` with HMAC-SHA256 as "sha256=<hex>"', () => {
    const headers = signWebhook(SECRET, body, 1_700_000_000);
    const expected = createHmac('sha256', SECRET).update(`1700000000.${body}`).digest('hex');
    expect(headers).toEqual({ [SIGNATURE_HEADER]: `sha256=${expected}`, [TIMESTAMP_HEADER]: '1700000000' });
    expect(SIGNATURE_HEADER).toBe('x-webhook-signature');
    expect(TIMESTAMP_HEADER).toBe('x-webhook-timestamp');
  });

  it('stamps the current time by default', () => {
    const before = Math.floor(Date.now() / 1000);
    const stamp = Number(signWebhook(SECRET, body)[TIMESTAMP_HEADER]);
    expect(stamp).toBeGreaterThanOrEqual(before);
    expect(stamp).toBeLessThanOrEqual(before + 1);
  });

  it('accepts its own signature and refuses every alteration', () => {
    const now = 1_700_000_000;
    const signed = signWebhook(SECRET, body, now);
    const headers = { signature: signed[SIGNATURE_HEADER], timestamp: signed[TIMESTAMP_HEADER] };
    expect(verifyWebhook(SECRET, body, headers, { nowSeconds: now })).toEqual({ ok: true });
    expect(verifyWebhook(SECRET, body, { ...headers, signature: headers.signature.toUpperCase().replace('SHA256', 'sha256') }, { nowSeconds: now })).toEqual({ ok: true });

    expect(verifyWebhook('other-secret', body, headers, { nowSeconds: now })).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(verifyWebhook(SECRET, body.replace('world', 'World'), headers, { nowSeconds: now })).toMatchObject({ ok: false, reason: 'mismatch' });
    // The timestamp is signed too: moving it forward to look fresh breaks the signature.
    expect(verifyWebhook(SECRET, body, { ...headers, timestamp: String(now + 1) }, { nowSeconds: now })).toMatchObject({ ok: false, reason: 'mismatch' });
  });

  it('refuses timestamps outside the tolerance, either way, and honours a custom tolerance', () => {
    const now = 1_700_000_000;
    const at = (t: number) => {
      const s = signWebhook(SECRET, body, t);
      return { signature: s[SIGNATURE_HEADER], timestamp: s[TIMESTAMP_HEADER] };
    };
    expect(verifyWebhook(SECRET, body, at(now - 300), { nowSeconds: now }).ok).toBe(true);
    expect(verifyWebhook(SECRET, body, at(now + 300), { nowSeconds: now }).ok).toBe(true);
    expect(verifyWebhook(SECRET, body, at(now - 301), { nowSeconds: now })).toMatchObject({ ok: false, reason: 'stale', message: expect.stringContaining('301 s old') });
    expect(verifyWebhook(SECRET, body, at(now + 301), { nowSeconds: now })).toMatchObject({ ok: false, reason: 'stale', message: expect.stringContaining('in the future') });
    expect(verifyWebhook(SECRET, body, at(now - 30), { nowSeconds: now, toleranceSeconds: 10 })).toMatchObject({ ok: false, reason: 'stale' });
    // An option passed through as undefined keeps the default rather than switching the check off.
    expect(verifyWebhook(SECRET, body, at(now - 301), { nowSeconds: now, toleranceSeconds: undefined })).toMatchObject({ ok: false, reason: 'stale' });
    // Default "now" is the real clock.
    expect(verifyWebhook(SECRET, body, at(Math.floor(Date.now() / 1000) - 1000)).ok).toBe(false);
  });

  it('tells missing from malformed headers', () => {
    const signed = signWebhook(SECRET, body, 1_700_000_000);
    const opts = { nowSeconds: 1_700_000_000 };
    expect(verifyWebhook(SECRET, body, {}, opts)).toMatchObject({ ok: false, reason: 'missing', message: expect.stringContaining(SIGNATURE_HEADER) });
    expect(verifyWebhook(SECRET, body, { signature: signed[SIGNATURE_HEADER] }, opts)).toMatchObject({ ok: false, reason: 'missing', message: expect.stringContaining(TIMESTAMP_HEADER) });
    expect(verifyWebhook(SECRET, body, { signature: 'md5=abc', timestamp: '1700000000' }, opts)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifyWebhook(SECRET, body, { signature: `sha256=${'a'.repeat(63)}`, timestamp: '1700000000' }, opts)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifyWebhook(SECRET, body, { signature: signed[SIGNATURE_HEADER], timestamp: '1.7e9' }, opts)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('refuses to sign or verify with an empty secret', () => {
    expect(() => signWebhook('', body)).toThrow(/secret is empty/);
    expect(() => verifyWebhook('', body, { signature: 'x', timestamp: '1' })).toThrow(/secret is empty/);
    expect(() => signWebhook(SECRET, body, 1.5)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------- webhook sender

describe('WebhookSender (one attempt; the announcer retries)', () => {
  let hooks: HookServer;
  let sender: WebhookSender | undefined;
  const payload: EmailWebhookPayload = { user_email: 'ann@local.test', email_id: 'id-1', from: 'Bob <bob@out.example>', subject: 'Hi', body: 'Hello' };

  beforeEach(async () => {
    hooks = await HookServer.start();
  });
  afterEach(async () => {
    await sender?.close();
    sender = undefined;
    await hooks.close();
  });

  function expectSigned(request: HookRequest): void {
    const check = verifyWebhook(SECRET, request.body, { signature: request.headers[SIGNATURE_HEADER] as string, timestamp: request.headers[TIMESTAMP_HEADER] as string });
    expect(check).toEqual({ ok: true });
    expect(request.headers['content-type']).toBe('application/json');
  }

  it('posts the payload signed, once, and says it was delivered', async () => {
    // timeoutMs passed through as undefined falls back to the default (5000 ms).
    sender = new WebhookSender({ url: hooks.url, secret: SECRET, timeoutMs: undefined });
    expect(await sender.post(payload)).toEqual({ kind: WebhookResult.Delivered, status: 200 });
    expect(hooks.requests).toHaveLength(1);
    hooks.requests.forEach(expectSigned);
    expect(hooks.payloads()).toEqual([payload]);
  });

  it('says "retry" for 401/403 (a secret mismatch), 404, 429 and 5xx, with Retry-After when given; "rejected" for 400, 413 and 422', async () => {
    sender = new WebhookSender({ url: hooks.url, secret: SECRET });
    hooks.statuses.push(401, 403, 404, 429, 500, 503, 400, 413, 422);
    const outcomes = [];
    for (let i = 0; i < 9; i++) outcomes.push(await sender.post(payload));
    expect(outcomes.slice(0, 6)).toEqual([
      { kind: WebhookResult.Retry, status: 401, reason: expect.stringContaining('secret') },
      { kind: WebhookResult.Retry, status: 403, reason: expect.stringContaining('secret') },
      { kind: WebhookResult.Retry, status: 404, reason: 'HTTP 404' },
      { kind: WebhookResult.Retry, status: 429, reason: 'HTTP 429', retryAfterMs: 7000 },
      { kind: WebhookResult.Retry, status: 500, reason: 'HTTP 500' },
      { kind: WebhookResult.Retry, status: 503, reason: 'HTTP 503', retryAfterMs: 7000 },
    ]);
    expect(outcomes.slice(6)).toEqual([400, 413, 422].map((status) => ({ kind: WebhookResult.Rejected, status, reason: `HTTP ${status}`, response: `nope ${status}` })));
    expect(hooks.requests).toHaveLength(9);
  });

  it('says "retry" when nothing listens, and when the receiver does not answer in time', async () => {
    const dead = await HookServer.start();
    const deadUrl = dead.url;
    await dead.close();
    sender = new WebhookSender({ url: deadUrl, secret: SECRET });
    expect(await sender.post(payload)).toMatchObject({ kind: WebhookResult.Retry, reason: expect.stringContaining('ECONNREFUSED') });

    const slow = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const slowSender = new WebhookSender({ url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/`, secret: SECRET, timeoutMs: 100 });
    expect(await slowSender.post(payload)).toEqual({ kind: WebhookResult.Retry, reason: 'no answer within 100 ms' });
    await slowSender.close();
    slow.closeAllConnections();
    slow.close();
  });

  it('close() abandons a request in flight ("closed"), is safe to call twice, and later posts send nothing', async () => {
    const held = createServer(() => undefined);
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    let arrived = false;
    held.on('request', () => (arrived = true));
    sender = new WebhookSender({ url: `http://127.0.0.1:${(held.address() as AddressInfo).port}/`, secret: SECRET, timeoutMs: 60_000 });
    const posting = sender.post(payload);
    while (!arrived) await new Promise((r) => setTimeout(r, 5));
    await Promise.all([sender.close(), sender.close()]);
    expect(await posting).toEqual({ kind: WebhookResult.Closed });
    expect(await sender.post(payload)).toEqual({ kind: WebhookResult.Closed });
    held.closeAllConnections();
    held.close();
  });

  it('an aborted signal abandons one attempt; the sender stays usable', async () => {
    sender = new WebhookSender({ url: hooks.url, secret: SECRET });
    expect(await sender.post(payload, AbortSignal.abort())).toEqual({ kind: WebhookResult.Closed });
    expect(await sender.post(payload)).toMatchObject({ kind: WebhookResult.Delivered });
  });

  it('does not send a payload that breaks the schema', async () => {
    sender = new WebhookSender({ url: hooks.url, secret: SECRET });
    expect(await sender.post({ ...payload, user_email: 'not an address' })).toMatchObject({ kind: WebhookResult.Rejected, reason: expect.stringMatching(/does not fit the schema/) });
    expect(hooks.requests).toHaveLength(0);
  });
});

// ---------------------------------------------------------------- payload

describe('webhookPayloadFrom', () => {
  it('takes sender, subject, plain text, date and recipients from the message', async () => {
    const raw = Buffer.from(
      message(
        { From: '"Bob Out" <bob@out.example>', To: 'ann@local.test, cy@local.test', Subject: '=?UTF-8?B?SGVsbG8g8J+Riw==?=', Date: 'Tue, 25 Nov 2025 04:17:00 +0000', 'Content-Type': 'text/plain; charset=utf-8' },
        'Line one\r\nLine two',
      ),
    );
    expect(await webhookPayloadFrom('ann@local.test', 'e1', raw)).toEqual({
      user_email: 'ann@local.test',
      email_id: 'e1',
      from: '"Bob Out" <bob@out.example>',
      subject: 'Hello 👋',
      body: 'Line one\nLine two',
      date: '2025-11-25T04:17:00.000Z',
      to: 'ann@local.test, cy@local.test',
    });
  });

  it('turns an HTML-only message into text and truncates long bodies to 20 000 characters', async () => {
    const html = await webhookPayloadFrom('a@local.test', 'e2', Buffer.from(message({ From: 'x@y.example', 'Content-Type': 'text/html' }, '<p>Hi <b>there</b></p>')));
    expect(html.body.trim()).toBe('Hi there');
    expect(html.subject).toBe('');
    expect(html).not.toHaveProperty('to');

    const long = await webhookPayloadFrom('a@local.test', 'e3', Buffer.from(message({ From: 'x@y.example' }, 'x'.repeat(25_000))));
    expect(long.body).toHaveLength(MAX_BODY_CHARS);
  });

  it('cuts from, subject and to at the runtime\'s caps, so that a refused (413) announcement cannot lose the mail', async () => {
    const raw = Buffer.from(message({ From: `${'x'.repeat(3000)} <bob@out.example>`, To: Array.from({ length: 1500 }, (_, i) => `r${i}@local.test`).join(', '), Subject: 's'.repeat(3000) }, 'hi'));
    const payload = await webhookPayloadFrom('a@local.test', 'e5', raw);
    expect(payload.from).toHaveLength(2000);
    expect(payload.subject).toHaveLength(2000);
    expect(payload.to).toHaveLength(20_000);
  });

  it('falls back to placeholders and the raw text when the message cannot be parsed', async () => {
    // A header block over mailparser's 1 MB limit makes it fail.
    const raw = Buffer.from(`X-Big: ${'a'.repeat(1_100_000)}\r\n\r\nbody`);
    const payload = await webhookPayloadFrom('a@local.test', 'e4', raw);
    expect(payload).toMatchObject({ from: '(unknown sender)', subject: '(unparseable message)', user_email: 'a@local.test', email_id: 'e4' });
    expect(payload.body).toBe(raw.toString('utf8').slice(0, MAX_BODY_CHARS));
  });
});

// ---------------------------------------------------------------- SMTP intake

describe('SmtpIntake', () => {
  let dir: string;
  let hooks: HookServer;
  let sender: WebhookSender;
  let intake: SmtpIntake;
  let log: ReturnType<typeof captureLogger>;
  let counter: number;
  let failDeliveryFor: string | undefined;
  /** What onStored was given, one list per transaction. */
  let recorded: StoredCopyRef[][];
  let failRecording: boolean;

  /** The store under test: one real file per recipient copy, named by a counter. */
  async function deliver(address: string, raw: Buffer): Promise<string> {
    if (failDeliveryFor === '*' || failDeliveryFor === address) throw new Error('disk full');
    counter += 1;
    const id = `msg-${counter}`;
    writeFileSync(join(dir, `${counter}.eml`), raw);
    return id;
  }

  function stored(): string[] {
    return readdirSync(dir)
      .sort()
      .map((f) => readFileSync(join(dir, f), 'utf8'));
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smtp-intake-'));
    counter = 0;
    failDeliveryFor = undefined;
    recorded = [];
    failRecording = false;
    log = captureLogger();
    hooks = await HookServer.start();
    sender = new WebhookSender({ url: hooks.url, secret: SECRET });
    intake = await SmtpIntake.start({
      host: '127.0.0.1',
      port: 0,
      localDomains: ['local.test', 'other.test'],
      maxMessageBytes: LIMIT,
      deliver,
      onStored: async (copies) => {
        if (failRecording) throw new Error('outbox: disk full');
        recorded.push([...copies]);
      },
      logger: log.logger,
      serverName: 'mx.local.test',
      closeTimeoutMs: 1000,
    });
  });

  afterEach(async () => {
    await intake.close();
    await sender.close();
    await hooks.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function transport() {
    return createTransport({ host: '127.0.0.1', port: intake.port, secure: false, ignoreTLS: true });
  }

  it('stores a mail to two local recipients twice and records both copies for announcement before the 250', async () => {
    const mailer = transport();
    const info = await mailer.sendMail({
      from: '"Bob Out" <bob@out.example>',
      to: ['ann@local.test', 'Cy@Other.Test'],
      subject: 'Quarterly numbers',
      text: 'Hello both,\nthe numbers are in.',
    });
    mailer.close();

    // nodemailer lower-cases the domain part of envelope addresses.
    expect(info.accepted).toEqual(['ann@local.test', 'Cy@other.test']);
    expect(info.rejected).toEqual([]);
    expect(info.response).toBe('250 2.0.0 Ok: queued as msg-1,msg-2');

    const files = stored();
    expect(files).toHaveLength(2);
    const [first, second] = files as [string, string];
    expect(first).toMatch(/^Return-Path: <bob@out\.example>\r\nDelivered-To: ann@local\.test\r\nReceived: from \S+ \(\[127\.0\.0\.1\]\)\r\n\tby mx\.local\.test with ESMTP id \S+\r\n\tfor <ann@local\.test>; \w{3}, \d{1,2} \w{3} \d{4} [\d:]{8} \+0000\r\n/);
    expect(second).toMatch(/^Return-Path: <bob@out\.example>\r\nDelivered-To: cy@other\.test\r\n/);
    for (const file of files) {
      expect(file).toContain('Subject: Quarterly numbers');
      expect(file).toContain('the numbers are in.');
    }

    // One record per transaction, made before the 250.
    expect(recorded).toEqual([
      [
        { address: 'ann@local.test', emailId: 'msg-1' },
        { address: 'cy@other.test', emailId: 'msg-2' },
      ],
    ]);
    // What the announcer makes of each stored copy, posted as it posts it.
    for (const [i, copy] of recorded[0]!.entries()) {
      expect(await sender.post(await webhookPayloadFrom(copy.address, copy.emailId, Buffer.from(files[i]!)))).toMatchObject({ kind: WebhookResult.Delivered });
    }
    const payloads = hooks.payloads().sort((a, b) => a.email_id.localeCompare(b.email_id));
    expect(payloads.map((p) => [p.user_email, p.email_id])).toEqual([
      ['ann@local.test', 'msg-1'],
      ['cy@other.test', 'msg-2'],
    ]);
    for (const p of payloads) {
      expect(p).toMatchObject({ from: '"Bob Out" <bob@out.example>', subject: 'Quarterly numbers', body: 'Hello both,\nthe numbers are in.\n', to: 'ann@local.test, Cy@other.test' });
      expect(Date.parse(p.date ?? '')).toBeGreaterThan(Date.now() - 60_000);
    }

    for (const request of hooks.requests) {
      const signature = request.headers[SIGNATURE_HEADER] as string;
      const timestamp = request.headers[TIMESTAMP_HEADER] as string;
      expect(verifyWebhook(SECRET, request.body, { signature, timestamp })).toEqual({ ok: true });
      expect(verifyWebhook('wrong-secret', request.body, { signature, timestamp })).toMatchObject({ ok: false, reason: 'mismatch' });
      expect(verifyWebhook(SECRET, request.body.replace('Quarterly', 'Quarter1y'), { signature, timestamp })).toMatchObject({ ok: false, reason: 'mismatch' });
      expect(verifyWebhook(SECRET, request.body, { signature, timestamp }, { nowSeconds: Number(timestamp) + 301 })).toMatchObject({ ok: false, reason: 'stale' });
    }
  });

  it('greets with the server name and advertises SIZE, but neither AUTH nor STARTTLS', async () => {
    const { client, greeting } = await SmtpLineClient.open(intake.port);
    expect(greeting.code).toBe(220);
    expect(greeting.text).toMatch(/^mx\.local\.test ESMTP/);
    const ehlo = await client.command('EHLO client.example');
    expect(ehlo.code).toBe(250);
    expect(ehlo.text.split('\n')).toContain(`SIZE ${LIMIT}`);
    expect(ehlo.text).toContain('ENHANCEDSTATUSCODES');
    expect(ehlo.text).not.toMatch(/AUTH|STARTTLS/);
    // smtp-server answers a disabled command as an unknown one.
    expect((await client.command('STARTTLS')).lines).toEqual(['500 5.5.2 Error: command not recognized']);
    expect((await client.command('AUTH PLAIN AGFubgBzZWNyZXQ=')).lines).toEqual(['500 5.5.2 Error: command not recognized']);
    await client.quit();
  });

  it('refuses relaying (550 5.7.1) and bad addresses (501 5.1.3), storing nothing', async () => {
    const { client } = await SmtpLineClient.open(intake.port);
    await client.command('EHLO client.example');
    expect((await client.command('MAIL FROM:<bob@out.example>')).code).toBe(250);
    const relay = await client.command('RCPT TO:<someone@elsewhere.example>');
    expect(relay.lines).toEqual(['550 5.7.1 relaying denied: elsewhere.example is not a domain of this server']);
    // A look-alike of a local domain is not local either.
    expect((await client.command('RCPT TO:<ann@local.test.evil.example>')).code).toBe(550);
    const malformed = await client.command('RCPT TO:<not-an-address>');
    expect(malformed.lines[0]).toMatch(/^501 5\.1\.3 /);
    expect((await client.command('RCPT TO:ann@local.test')).lines[0]).toMatch(/^501 5\.1\.3 /);
    // No recipient was accepted, so there is nothing to send data for.
    expect((await client.command('DATA')).lines[0]).toMatch(/^503 5\.5\.1 /);
    await client.quit();

    const mailer = transport();
    await expect(mailer.sendMail({ from: 'bob@out.example', to: 'someone@elsewhere.example', subject: 'x', text: 'x' })).rejects.toMatchObject({
      code: 'EENVELOPE',
      responseCode: 550,
    });
    // Mixed: the local copy is stored, the outside one is refused.
    const info = await mailer.sendMail({ from: 'bob@out.example', to: ['ann@local.test', 'someone@elsewhere.example'], subject: 'x', text: 'x' });
    mailer.close();
    expect(info.accepted).toEqual(['ann@local.test']);
    expect(info.rejected).toEqual(['someone@elsewhere.example']);
    expect(stored()).toHaveLength(1);
    expect(recorded.flat().map((c) => c.address)).toEqual(['ann@local.test']);
  });

  it('refuses an oversized message with 552 5.3.4, stores nothing, and keeps the session usable', async () => {
    const { client } = await SmtpLineClient.open(intake.port);
    await client.command('EHLO client.example');
    await client.command('MAIL FROM:<bob@out.example>');
    await client.command('RCPT TO:<ann@local.test>');
    expect((await client.command('DATA')).code).toBe(354);
    const big = message({ From: 'bob@out.example', Subject: 'big' }, `${'y'.repeat(998)}\r\n`.repeat(100));
    const reply = await client.data(big);
    expect(reply.lines).toEqual([`552 5.3.4 message too large (limit ${LIMIT} bytes)`]);
    expect(stored()).toEqual([]);

    // The whole oversized body was read: the next command is answered as a command, not swallowed as data.
    expect((await client.command('MAIL FROM:<bob@out.example>')).lines).toEqual(['250 2.1.0 Accepted']);
    await client.command('RSET');
    // A declared size over the limit is refused before any data is sent.
    expect((await client.command(`MAIL FROM:<bob@out.example> SIZE=${LIMIT + 1}`)).lines[0]).toMatch(/^552 5\.3\.4 /);
    await client.quit();

    const mailer = transport();
    await expect(mailer.sendMail({ from: 'bob@out.example', to: 'ann@local.test', subject: 'big', text: 'z'.repeat(LIMIT + 10) })).rejects.toMatchObject({ responseCode: 552 });
    mailer.close();
    expect(stored()).toEqual([]);
    expect(recorded).toEqual([]);
  });

  it('refuses an empty or headerless message with 554 5.6.0', async () => {
    const { client } = await SmtpLineClient.open(intake.port);
    await client.command('EHLO client.example');

    await client.command('MAIL FROM:<bob@out.example>');
    await client.command('RCPT TO:<ann@local.test>');
    await client.command('DATA');
    const empty = await client.data('');
    expect(empty.lines).toEqual(['554 5.6.0 message is empty']);

    await client.command('MAIL FROM:<bob@out.example>');
    await client.command('RCPT TO:<ann@local.test>');
    await client.command('DATA');
    const headerless = await client.data('Hi Ann, just text here.\r\nSubject: not a header line any more');
    expect(headerless.code).toBe(554);
    expect(headerless.lines[0]).toMatch(/^554 5\.6\.0 message has no header section/);

    // Same message with a header: accepted, so the refusals above were about the format.
    await client.command('MAIL FROM:<bob@out.example>');
    await client.command('RCPT TO:<ann@local.test>');
    await client.command('DATA');
    expect((await client.data('Subject: hi\r\n\r\nHi Ann')).lines).toEqual(['250 2.0.0 Ok: queued as msg-1']);
    await client.quit();
    expect(stored()).toHaveLength(1);
  });

  it('answers 451 4.3.0 when storing fails, and records nothing for announcement', async () => {
    failDeliveryFor = '*';
    const { client } = await SmtpLineClient.open(intake.port);
    await client.command('EHLO client.example');
    await client.command('MAIL FROM:<bob@out.example>');
    await client.command('RCPT TO:<ann@local.test>');
    await client.command('DATA');
    const reply = await client.data(message({ From: 'bob@out.example', Subject: 'x' }, 'x'));
    expect(reply.lines[0]).toMatch(/^451 4\.3\.0 temporary failure/);
    await client.quit();

    // Second recipient fails after the first was stored: still 451, and the stored copy is not announced (the client sends again).
    failDeliveryFor = 'cy@local.test';
    const mailer = transport();
    await expect(mailer.sendMail({ from: 'bob@out.example', to: ['ann@local.test', 'cy@local.test'], subject: 'x', text: 'x' })).rejects.toMatchObject({ responseCode: 451 });
    mailer.close();
    expect(stored()).toHaveLength(1);
    expect(recorded).toEqual([]);
    expect(log.lines.filter((l) => l.msg.startsWith('Storing an incoming message failed'))).toHaveLength(2);
  });

  it('stores nothing when the client goes away during DATA, and still closes promptly', async () => {
    const { client } = await SmtpLineClient.open(intake.port);
    await client.command('EHLO client.example');
    await client.command('MAIL FROM:<bob@out.example>');
    await client.command('RCPT TO:<ann@local.test>');
    await client.command('DATA');
    client.abort('Subject: cut\r\n\r\nhalf a mess');
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await intake.close();
    expect(Date.now() - started).toBeLessThan(500);
    expect(stored()).toEqual([]);
    expect(recorded).toEqual([]);
  });

  it('answers 451 when the copies cannot be recorded for announcement: a 250 promises the announcement too', async () => {
    failRecording = true;
    const mailer = transport();
    await expect(mailer.sendMail({ from: 'bob@out.example', to: 'ann@local.test', subject: 'x', text: 'x' })).rejects.toMatchObject({ responseCode: 451 });
    mailer.close();
    // Stored all the same (the store has no rollback); the client's next try stores and records it again.
    expect(stored()).toHaveLength(1);
    expect(log.lines.find((l) => l.msg.startsWith('Recording stored mail for announcement failed'))).toMatchObject({ ids: ['msg-1'] });
    await intake.close();
    await intake.close();
  });

  it('refuses to start on a port in use, with the address in the message', async () => {
    await expect(
      SmtpIntake.start({ host: '127.0.0.1', port: intake.port, localDomains: ['local.test'], maxMessageBytes: LIMIT, deliver, logger: log.logger }),
    ).rejects.toThrow(`The SMTP intake cannot listen on 127.0.0.1:${intake.port}`);
  });
});

describe('stripMboxSeparator', () => {
  it('drops a leading mbox "From " line but keeps an obsolete-syntax "From  :" header', () => {
    expect(String(stripMboxSeparator(Buffer.from('From jamis@37signals.com Thu Feb 22 11:20:31 2007\nFrom: a@b.c\n\nhi')))).toBe('From: a@b.c\n\nhi');
    expect(String(stripMboxSeparator(Buffer.from('From  : John Doe <jdoe@example>\nTo: x@y.z\n\nhi')))).toBe('From  : John Doe <jdoe@example>\nTo: x@y.z\n\nhi');
    expect(String(stripMboxSeparator(Buffer.from('Subject: no separator\n\nhi')))).toBe('Subject: no separator\n\nhi');
  });
});

describe('SMTP intake bounds what one client can make it hold', () => {
  let intake: SmtpIntake;
  let release: () => void = () => undefined;
  let gate: Promise<void> = Promise.resolve();
  const delivered: string[] = [];

  beforeEach(async () => {
    delivered.length = 0;
    gate = Promise.resolve();
    intake = await SmtpIntake.start({
      host: '127.0.0.1',
      port: 0,
      localDomains: ['local.test'],
      maxMessageBytes: LIMIT,
      maxParallelMessages: 1,
      maxRecipients: 3,
      maxTransactionBytes: 10_000,
      deliver: async (address) => {
        await gate;
        delivered.push(address);
        return `id-${delivered.length}`;
      },
      logger: captureLogger().logger,
      closeTimeoutMs: 1000,
    });
  });
  afterEach(async () => {
    release();
    await intake.close();
  });

  async function openTransaction(recipients: string[]): Promise<SmtpLineClient> {
    const { client } = await SmtpLineClient.open(intake.port);
    await client.command('EHLO client.example');
    await client.command('MAIL FROM:<bob@out.example>');
    for (const r of recipients) await client.command(`RCPT TO:<${r}>`);
    expect((await client.command('DATA')).code).toBe(354);
    return client;
  }

  it('a flood of parallel messages: past the parallel limit DATA gets 451 4.3.2 (try again), and the first is still stored', async () => {
    gate = new Promise((resolve) => (release = resolve));
    const first = await openTransaction(['ann@local.test']);
    first.write(`${message({ From: 'bob@out.example', Subject: 'one' }, 'first')}\r\n.\r\n`);
    await new Promise((r) => setTimeout(r, 100));

    const second = await openTransaction(['ann@local.test']);
    const refused = await second.data(message({ From: 'bob@out.example', Subject: 'two' }, 'second'));
    expect(refused.lines[0]).toMatch(/^451 4\.3\.2 too busy/);
    // The refused session is still usable.
    expect((await second.command('RSET')).code).toBe(250);

    release();
    expect((await first.reply()).lines[0]).toMatch(/^250 /);
    expect(delivered).toEqual(['ann@local.test']);
    // Once the first is done, the next one is taken.
    await second.command('MAIL FROM:<bob@out.example>');
    await second.command('RCPT TO:<ann@local.test>');
    await second.command('DATA');
    expect((await second.data(message({ From: 'bob@out.example', Subject: 'two' }, 'second'))).code).toBe(250);
    await first.quit();
    await second.quit();
  });

  it('too many recipients in one transaction: the ones past the cap get 452', async () => {
    const { client } = await SmtpLineClient.open(intake.port);
    await client.command('EHLO client.example');
    await client.command('MAIL FROM:<bob@out.example>');
    const replies = [];
    for (const r of ['a@local.test', 'b@local.test', 'c@local.test', 'd@local.test']) replies.push((await client.command(`RCPT TO:<${r}>`)).code);
    expect(replies).toEqual([250, 250, 250, 452]);
    await client.quit();
  });

  it('a message × recipients over the transaction budget is refused (552 5.3.4) and nothing is stored', async () => {
    const client = await openTransaction(['a@local.test', 'b@local.test', 'c@local.test']);
    // 4 KB is under the message limit, but three copies of it are over the 10 000-byte transaction budget.
    const reply = await client.data(message({ From: 'bob@out.example', Subject: 'wide' }, 'x'.repeat(4000)));
    expect(reply.lines[0]).toMatch(/^552 5\.3\.4 message too large for 3 recipients/);
    expect(delivered).toEqual([]);
    await client.quit();
  });
});
