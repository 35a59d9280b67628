import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EmailWebhookPayloadSchema, type EmailWebhookPayload } from '../../src/mail/email-webhook.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../../src/mail/webhook-signature.js';

/**
 * The runtime's end of `POST /api/webhooks/email`, over real HTTP: checks the signature against `secret` as the
 * runtime does (`401` on a mismatch) and answers `202`. It can go down and come back on the same port, hold requests
 * without answering (`hang`), or answer another status (`status`).
 */
export class WebhookReceiver {
  /** Announcements answered 202, in order. */
  readonly accepted: EmailWebhookPayload[] = [];
  /** Per email id, how many times its signature was refused. */
  readonly refusedById = new Map<string, number>();
  secret: string;
  hang = false;
  /** Answered instead of 202 when set (after the signature check). */
  status: number | undefined;
  /** Email ids answered 500 (a payload the runtime chokes on), counted in `failedById`. */
  readonly failFor = new Set<string>();
  readonly failedById = new Map<string, number>();
  /** Each answer waits this long, so that concurrent requests overlap. */
  delayMs = 0;
  /** The most requests open at once so far. */
  maxConcurrent = 0;
  private open = 0;
  private server: Server | undefined;
  private readonly held = new Set<ServerResponse>();

  constructor(secret: string) {
    this.secret = secret;
  }

  /** Requests being held right now (a client that gave up is no longer counted). */
  get holding(): number {
    return this.held.size;
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  async listen(port = 0): Promise<void> {
    const server = createServer((req, res) => {
      this.open += 1;
      this.maxConcurrent = Math.max(this.maxConcurrent, this.open);
      res.on('close', () => (this.open -= 1));
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (this.delayMs > 0) setTimeout(() => this.answer(body, req.headers, res), this.delayMs);
        else this.answer(body, req.headers, res);
      });
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    this.server = server;
  }

  /** Nothing listens afterwards; held requests are cut off. Safe to call twice. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    this.held.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private answer(body: string, headers: Record<string, string | string[] | undefined>, res: ServerResponse): void {
    const header = (name: string) => {
      const value = headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const payload = EmailWebhookPayloadSchema.parse(JSON.parse(body));
    if (this.hang) {
      this.held.add(res);
      res.on('close', () => this.held.delete(res));
      return;
    }
    const check = verifyWebhook(this.secret, body, { signature: header(SIGNATURE_HEADER), timestamp: header(TIMESTAMP_HEADER) });
    if (!check.ok) {
      this.refusedById.set(payload.email_id, (this.refusedById.get(payload.email_id) ?? 0) + 1);
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'error', message: check.message }));
      return;
    }
    if (this.failFor.has(payload.email_id)) {
      this.failedById.set(payload.email_id, (this.failedById.get(payload.email_id) ?? 0) + 1);
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"status":"error","message":"Internal error"}');
      return;
    }
    if (this.status !== undefined) {
      res.writeHead(this.status, { 'content-type': 'application/json' }).end('{"status":"error"}');
      return;
    }
    this.accepted.push(payload);
    res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'accepted', id: `summary-${payload.email_id}` }));
  }
}
