import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { HttpError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { isLoopbackHost } from '../net/loopback.js';
import { allowedHostsFor, type AllowedHosts } from '../net/host-allow-list.js';
import { answerClientErrors, guardedListener, requestPath, sendJson as json } from '../net/node-http-guard.js';
import { hostRefusal } from './allowed-hosts.js';
import { describeMailTools } from './mail-tools.js';

export interface MailHttpServerOptions {
  host: string;
  port: number;
  /** Required from every MCP client when set; mandatory when `host` is not loopback. */
  authToken: string;
  /** `Host` values accepted besides the listen address and the loopback names on its port. @default [] */
  allowedHosts?: readonly string[];
  /** A fresh MCP server per request: the endpoint is stateless, so a restart never strands a client's session. */
  createMcpServer: () => McpServer;
  /** `/accounts/<user>` (connecting IMAP accounts), behind the same bearer token as `/mcp`. @default none (404) */
  accounts?: (method: string, path: string, body: unknown) => Promise<{ status: number; body: unknown } | undefined>;
  /** Extra fields for `GET /health` (e.g. how many announcements are pending). @default none */
  health?: () => Record<string, unknown>;
  logger: Logger;
}

/** MCP requests are small JSON-RPC messages; anything bigger is a mistake or an attack. */
const MAX_BODY_BYTES = 1024 * 1024;
const JSON_RPC_SERVER_ERROR = -32000;
const JSON_RPC_PARSE_ERROR = -32700;

function rpcError(code: number, message: string): object {
  return { jsonrpc: '2.0', error: { code, message }, id: null };
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > MAX_BODY_BYTES) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        chunks.length = 0;
        // Stop reading; the 413 goes out with `Connection: close`, which ends the upload too.
        req.pause();
        reject(new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined);
      } catch (error) {
        reject(new HttpError(400, `body is not JSON: ${errorMessage(error)}`, { cause: error }));
      }
    });
    req.on('error', (error) => reject(new HttpError(400, `request failed: ${errorMessage(error)}`, { cause: error })));
  });
}

/**
 * The mail MCP server over Streamable HTTP (`/mcp`), plus `GET /health` and the seed's `GET /mcp/tools`. Every route
 * checks `Host` and `Origin` first (DNS rebinding), and no exception leaves the request handler.
 */
export class MailHttpServer {
  private constructor(
    private readonly http: Server,
    readonly port: number,
  ) {}

  static async start(options: MailHttpServerOptions): Promise<MailHttpServer> {
    if (!options.authToken && !isLoopbackHost(options.host)) {
      throw new Error(`The mail MCP server listens on ${options.host}, beyond loopback: set [mail] auth_token (or MAIL_AUTH_TOKEN) so that only the runtime can use it.`);
    }
    const { logger } = options;
    const expected = Buffer.from(`Bearer ${options.authToken}`);
    const authorized = (req: IncomingMessage) => {
      if (!options.authToken) return true;
      const given = Buffer.from(req.headers.authorization ?? '');
      return given.length === expected.length && timingSafeEqual(given, expected);
    };
    // Known once listening: port 0 picks the port.
    let allowed: AllowedHosts = { hosts: [], origins: [] };

    const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const refusal = hostRefusal(req.headers, allowed);
      if (refusal) return json(res, 403, { error: refusal });
      const path = requestPath(req);
      if (req.method === 'GET' && path === '/health') return json(res, 200, { status: 'ok', ...options.health?.() });
      const accountsRoute = options.accounts !== undefined && path.startsWith('/accounts/');
      if (path !== '/mcp' && path !== '/mcp/tools' && !accountsRoute) return json(res, 404, { error: 'No such route' });
      if (!authorized(req)) return json(res, 401, { error: 'Missing or wrong bearer token' });
      if (accountsRoute && options.accounts) {
        const reply = await options.accounts(req.method ?? 'GET', path, req.method === 'PUT' ? await readBody(req) : undefined);
        return reply ? json(res, reply.status, reply.body) : json(res, 404, { error: 'No such route' });
      }
      if (path === '/mcp/tools') return json(res, 200, { tools: describeMailTools() });
      // Stateless: there is no server-initiated stream to open and no session to end.
      if (req.method !== 'POST') return json(res, 405, rpcError(JSON_RPC_SERVER_ERROR, 'Method not allowed: this endpoint is stateless, use POST.'));
      const body = await readBody(req);
      const server = options.createMcpServer();
      // The SDK's own DNS-rebinding check as well, with the same lists: a second lock on the MCP route.
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
        enableDnsRebindingProtection: true,
        allowedHosts: [...allowed.hosts],
        allowedOrigins: [...allowed.origins],
      });
      res.on('close', () => {
        transport.close().catch((err: unknown) => logger.debug({ err: errorMessage(err) }, 'MCP transport close failed'));
        server.close().catch((err: unknown) => logger.debug({ err: errorMessage(err) }, 'MCP server close failed'));
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    };

    const http = createServer(
      guardedListener(route, {
        logger,
        name: 'mail HTTP',
        errorBody: (status, message) => rpcError(status < 500 ? JSON_RPC_PARSE_ERROR : JSON_RPC_SERVER_ERROR, message),
      }),
    );
    answerClientErrors(http, logger, 'mail HTTP');

    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.port, options.host, () => resolve());
    });
    const port = (http.address() as AddressInfo).port;
    allowed = allowedHostsFor(options.host, port, options.allowedHosts);
    return new MailHttpServer(http, port);
  }

  /** Safe to call twice. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.http.listening) return resolve();
      this.http.closeAllConnections();
      this.http.close(() => resolve());
    });
  }
}
