import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { describeMailTools } from './mail-tools.js';

export interface MailHttpServerOptions {
  host: string;
  port: number;
  /** Required from every MCP client when set; mandatory when `host` is not loopback. */
  authToken: string;
  /** A fresh MCP server per request: the endpoint is stateless, so a restart never strands a client's session. */
  createMcpServer: () => McpServer;
  logger: Logger;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
/** MCP requests are small JSON-RPC messages; anything bigger is a mistake or an attack. */
const MAX_BODY_BYTES = 1024 * 1024;

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined);
      } catch (error) {
        reject(error);
      }
    });
    req.on('error', reject);
  });
}

/** The mail MCP server over Streamable HTTP (`/mcp`), plus `GET /health` and the seed's `GET /mcp/tools`. */
export class MailHttpServer {
  private constructor(
    private readonly http: Server,
    readonly port: number,
  ) {}

  static async start(options: MailHttpServerOptions): Promise<MailHttpServer> {
    if (!options.authToken && !isLoopback(options.host)) {
      throw new Error(`The mail MCP server listens on ${options.host}, beyond loopback: set [mail] auth_token (or MAIL_AUTH_TOKEN) so that only the runtime can use it.`);
    }
    const expected = Buffer.from(`Bearer ${options.authToken}`);
    const authorized = (req: IncomingMessage) => {
      if (!options.authToken) return true;
      const given = Buffer.from(req.headers.authorization ?? '');
      return given.length === expected.length && timingSafeEqual(given, expected);
    };

    const http = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://mail').pathname;
      if (req.method === 'GET' && path === '/health') return json(res, 200, { status: 'ok' });
      if (path !== '/mcp' && path !== '/mcp/tools') return json(res, 404, { error: `No route for ${path}` });
      if (!authorized(req)) return json(res, 401, { error: 'Missing or wrong bearer token' });
      if (path === '/mcp/tools') return json(res, 200, { tools: describeMailTools() });
      // Stateless: there is no server-initiated stream to open and no session to end.
      if (req.method !== 'POST') {
        return json(res, 405, { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this endpoint is stateless, use POST.' }, id: null });
      }
      void handleMcp(req, res);
    });

    const handleMcp = async (req: IncomingMessage, res: ServerResponse) => {
      const server = options.createMcpServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      try {
        const body = await readBody(req);
        await server.connect(transport);
        await transport.handleRequest(req, res, body);
      } catch (error) {
        options.logger.warn({ err: errorMessage(error) }, 'bad MCP request');
        if (!res.headersSent) json(res, 400, { jsonrpc: '2.0', error: { code: -32700, message: `Bad request: ${errorMessage(error)}` }, id: null });
      }
    };

    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.port, options.host, () => resolve());
    });
    return new MailHttpServer(http, (http.address() as AddressInfo).port);
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
