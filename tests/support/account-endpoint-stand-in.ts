import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AccountSource, WatchState, type AccountConnectRequest, type ConnectedAccount } from '../../src/mail-account/account-contract.js';

/**
 * A stand-in for the mail server's `/accounts/<address>` endpoints (issue 12), written from their contract while the
 * real ones were being written in `src/mail/`. A real node:http server, so the runtime's requests go over a socket as
 * they do to the mail server: bearer token, `Host` check, JSON both ways. `mail-account-mail-server.test.ts` runs the
 * runtime against the real mail server (and Dovecot); this one stays for what the real one cannot be made to do on
 * demand: be slow, answer outside the contract, send a field it must not, or fail in a scripted way in a browser test.
 */

/** One request the stand-in received on `/accounts/…`, as it arrived. */
export interface ReceivedAccountRequest {
  method: string;
  /** The raw path, still percent-encoded. */
  path: string;
  /** The path's address, decoded. */
  address: string;
  authorization: string | undefined;
  /** The raw body text ("" for none). */
  body: string;
}

export interface StandInOptions {
  /** Required as `Authorization: Bearer`; "" requires none. */
  token: string;
  /** The one password that logs in; any other is `422 auth_failed`. */
  password: string;
}

/**
 * An answer given once, instead of the contract's, to see what the runtime makes of a broken or foreign server;
 * `hang` never answers (until `close`).
 */
export type ScriptedAnswer = { status: number; body: string; contentType?: string } | 'hang';

const MAX_BODY_BYTES = 64 * 1024;

export class AccountEndpointStandIn {
  readonly received: ReceivedAccountRequest[] = [];
  /** Accounts by address, with the password the stand-in was given (a real mail server stores it encrypted). */
  readonly accounts = new Map<string, ConnectedAccount & { password?: string }>();
  /** Off: `PUT` answers 503 `no_secret_key`, as a mail server without `[mail] secret_key` does. */
  secretKey = true;
  private scripted: ScriptedAnswer[] = [];
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly options: StandInOptions,
  ) {}

  static async start(options: StandInOptions): Promise<AccountEndpointStandIn> {
    let standIn: AccountEndpointStandIn | undefined;
    const server = createServer((req, res) => {
      standIn?.handle(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'bug', message: String(error) } }));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    standIn = new AccountEndpointStandIn(server, (server.address() as AddressInfo).port, options);
    return standIn;
  }

  /** What `[mcp] mail_server_url` is set to: the MCP endpoint, beside which `/accounts/` lives. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/mcp`;
  }

  /** An account the operator set up in the mail server's config: read-only for the user. */
  configure(address: string, account: Omit<ConnectedAccount, 'connected' | 'source'>): void {
    this.accounts.set(address, { connected: true, source: AccountSource.Config, ...account });
  }

  /** The next request on `/accounts/…` gets `answer` instead of the contract's. */
  answerNextWith(answer: ScriptedAnswer): void {
    this.scripted.push(answer);
  }

  requestsFor(address: string): ReceivedAccountRequest[] {
    return this.received.filter((r) => r.address === address);
  }

  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const json = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.headers.host !== `127.0.0.1:${this.port}` && req.headers.host !== `localhost:${this.port}`) return json(403, { error: { code: 'forbidden', message: 'Foreign Host' } });
    const path = req.url ?? '/';
    const match = /^\/accounts\/([^/?]+)$/.exec(path);
    // The real mail server's answer to a path it does not serve (its MCP endpoint included, here).
    if (!match) return json(404, { error: 'No such route' });
    const body = await readBody(req);
    const address = decodeURIComponent(match[1]!);
    this.received.push({ method: req.method ?? '', path, address, authorization: req.headers.authorization, body });
    if (this.options.token && req.headers.authorization !== `Bearer ${this.options.token}`) return json(401, { error: { code: 'unauthorized', message: 'Bearer token required' } });
    const scripted = this.scripted.shift();
    if (scripted === 'hang') return;
    if (scripted) return void res.writeHead(scripted.status, { 'content-type': scripted.contentType ?? 'application/json' }).end(scripted.body);
    const current = this.accounts.get(address);
    switch (req.method) {
      case 'GET':
        return current ? json(200, publicView(current)) : json(404, { connected: false });
      case 'PUT':
        return this.connect(address, current, body, json);
      case 'DELETE':
        if (!current) return json(404, { connected: false });
        if (current.source === AccountSource.Config) return json(409, { error: { code: 'managed_by_operator', message: 'This account is set up in the mail server configuration.' } });
        this.accounts.delete(address);
        return json(200, { connected: false });
      default:
        return json(405, { error: { code: 'invalid', message: 'Method not allowed' } });
    }
  }

  private connect(address: string, current: ConnectedAccount | undefined, text: string, json: (status: number, body: unknown) => void): void {
    if (current?.source === AccountSource.Config) return json(409, { error: { code: 'managed_by_operator', message: 'This account is set up in the mail server configuration.' } });
    if (!this.secretKey) return json(503, { error: { code: 'no_secret_key', message: 'The mail server has no [mail] secret_key to encrypt passwords with.' } });
    let request: AccountConnectRequest;
    try {
      request = JSON.parse(text) as AccountConnectRequest;
    } catch {
      return json(422, { error: { code: 'invalid', message: 'The body is not JSON.' } });
    }
    if (request.password !== this.options.password) return json(422, { error: { code: 'auth_failed', message: `IMAP login failed for ${request.username}: authentication failed.` } });
    const account = {
      connected: true as const,
      source: AccountSource.User,
      imap_url: request.imap_url,
      smtp_url: request.smtp_url,
      username: request.username,
      save_sent: request.save_sent ?? true,
      watch: { state: WatchState.Connecting },
      password: request.password,
    };
    this.accounts.set(address, account);
    json(200, publicView(account));
  }
}

/** The contract's GET shape: never the password. */
function publicView({ password: _password, ...account }: ConnectedAccount & { password?: string }): ConnectedAccount {
  return account;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
