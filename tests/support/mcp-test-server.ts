/**
 * A real MCP server for tests, built with the official SDK so that the runtime's MCP client is
 * exercised against the same protocol implementation it will meet in production.
 *
 * - `createMcpTestServer` builds one `McpServer` (usable over any transport, e.g. stdio).
 * - `McpTestHttpServer` serves it over Streamable HTTP at `/mcp`, one `McpServer` per session,
 *   and records every `tools/call` it receives.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest, isJSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult, JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { z } from 'zod';

export interface McpTestServerOptions {
  /** Reported as `serverInfo.name`; lets a test tell two servers apart. */
  name?: string;
  /** Only these built-in tools are registered (default: all). */
  toolNames?: string[];
  /** 0 (default) picks a free port. */
  port?: number;
}

export interface ToolCallRecord {
  name: string;
  arguments: Record<string, unknown>;
  aborted: boolean;
  /** The request's `params._meta`, when it had one (a caller's trace context). */
  meta?: Record<string, unknown>;
}

/** A tool added at runtime via `McpTestHttpServer.addTool`. */
export interface RuntimeToolSpec {
  name: string;
  description: string;
  /** Answer a document of this many characters instead of echoing the arguments (a long email, a web page). */
  resultChars?: number;
}

export interface McpTestServerHooks {
  /** Registered in addition to the built-ins (runtime-added tools must survive into new sessions). */
  runtimeTools?: readonly RuntimeToolSpec[];
  /** Called when a tool handler observes its request's abort signal firing. */
  onAbort?: (requestId: RequestId) => void;
}

export const BUILTIN_TOOL_NAMES = [
  'add',
  'get_weather',
  'lookup_contact',
  'delete_note',
  'send_message',
  'slow',
  'fail',
  'echo_args',
] as const;

export type BuiltinToolName = (typeof BUILTIN_TOOL_NAMES)[number];

const MCP_PATH = '/mcp';
const HOST = '127.0.0.1';

function text(value: string, structuredContent?: Record<string, unknown>): CallToolResult {
  const result: CallToolResult = { content: [{ type: 'text', text: value }] };
  if (structuredContent !== undefined) result.structuredContent = structuredContent;
  return result;
}

function registerRuntimeTool(server: McpServer, spec: RuntimeToolSpec): void {
  server.registerTool(
    spec.name,
    { description: spec.description, inputSchema: z.looseObject({}) },
    (args) => (spec.resultChars ? text('lorem ipsum '.repeat(Math.ceil(spec.resultChars / 12)).slice(0, spec.resultChars)) : text(`${spec.name}: ${JSON.stringify(args)}`, args)),
  );
}

export function createMcpTestServer(
  options: McpTestServerOptions = {},
  hooks: McpTestServerHooks = {},
): McpServer {
  const server = new McpServer({ name: options.name ?? 'mcp-test-server', version: '1.0.0' });
  const wanted = (name: BuiltinToolName): boolean =>
    options.toolNames === undefined || options.toolNames.includes(name);

  if (wanted('add')) {
    server.registerTool(
      'add',
      {
        description: 'Add two numbers',
        inputSchema: { a: z.number(), b: z.number() },
        annotations: { readOnlyHint: true },
      },
      ({ a, b }) => text(String(a + b), { sum: a + b }),
    );
  }
  if (wanted('get_weather')) {
    server.registerTool(
      'get_weather',
      {
        description: 'Current weather for a city',
        inputSchema: { city: z.string() },
        annotations: { readOnlyHint: true },
      },
      ({ city }) => text(`Sunny, 21°C in ${city}`, { city, condition: 'Sunny', temperatureC: 21 }),
    );
  }
  if (wanted('lookup_contact')) {
    server.registerTool(
      'lookup_contact',
      {
        description: 'Look up the email address of a contact',
        inputSchema: { name: z.string() },
        annotations: { readOnlyHint: true },
      },
      ({ name }) => text(`${name}@example.com`, { name, email: `${name}@example.com` }),
    );
  }
  if (wanted('delete_note')) {
    server.registerTool(
      'delete_note',
      {
        description: 'Delete a note permanently',
        inputSchema: { id: z.string() },
        annotations: { destructiveHint: true },
      },
      ({ id }) => text(`Deleted note ${id}`, { id, deleted: true }),
    );
  }
  if (wanted('send_message')) {
    server.registerTool(
      'send_message',
      {
        description: 'Send a message to someone',
        inputSchema: { to: z.string(), text: z.string() },
        annotations: { destructiveHint: true },
      },
      ({ to }) => text(`Sent to ${to}`, { to, sent: true }),
    );
  }
  if (wanted('slow')) {
    server.registerTool(
      'slow',
      {
        description: 'Wait for the given number of milliseconds',
        inputSchema: { ms: z.number() },
        annotations: { readOnlyHint: true },
      },
      async ({ ms }, extra) => {
        const { signal } = extra;
        await new Promise<void>((resolve) => {
          const onAbort = (): void => {
            clearTimeout(timer);
            hooks.onAbort?.(extra.requestId);
            resolve();
          };
          const timer = setTimeout(() => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          }, ms);
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
        });
        // An aborted request's result is discarded by the SDK, so what is returned here does not matter.
        return text(`done after ${ms}ms`, { ms });
      },
    );
  }
  if (wanted('fail')) {
    server.registerTool('fail', { description: 'Always fails' }, () => ({
      isError: true,
      content: [{ type: 'text', text: 'fail tool always fails' }],
    }));
  }
  if (wanted('echo_args')) {
    server.registerTool(
      'echo_args',
      {
        description: 'Echo back the exact arguments received',
        // Loose so that unexpected keys survive validation and tests can see them.
        inputSchema: z.looseObject({}),
      },
      (args) => text(JSON.stringify(args), args),
    );
  }
  for (const spec of hooks.runtimeTools ?? []) registerRuntimeTool(server, spec);

  // McpServer installs the tools/list handler and the `tools.listChanged` capability lazily on the
  // first registerTool, and capabilities cannot change after connect. With an empty tool set a
  // later addTool would throw, so force the initialisation with a throwaway tool.
  if (!BUILTIN_TOOL_NAMES.some(wanted) && !hooks.runtimeTools?.length) {
    server.registerTool('__init__', {}, () => text('')).remove();
  }
  return server;
}

/**
 * Must run before `McpServer.connect`: the SDK's Protocol chains a pre-existing `onmessage`, so this
 * sees the raw request (arguments as sent, even ones the schema would strip or reject).
 */
export function recordToolCalls(
  transport: Transport,
  onCall: (record: ToolCallRecord, requestId: RequestId) => void,
): void {
  const previous = transport.onmessage;
  transport.onmessage = (message: JSONRPCMessage, extra) => {
    if (isJSONRPCRequest(message) && message.method === 'tools/call') {
      const params = message.params ?? {};
      const args = params['arguments'];
      const meta = params['_meta'];
      onCall(
        {
          name: typeof params['name'] === 'string' ? params['name'] : '',
          arguments: isRecord(args) ? args : {},
          aborted: false,
          ...(isRecord(meta) ? { meta } : {}),
        },
        message.id,
      );
    }
    previous?.(message, extra);
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  /** The standalone GET SSE stream, the only channel for list_changed notifications. */
  sse: ServerResponse | undefined;
}

interface CallWaiter {
  n: number;
  resolve: () => void;
}

export class McpTestHttpServer {
  readonly calls: ToolCallRecord[] = [];

  private readonly options: McpTestServerOptions;
  private readonly runtimeTools: RuntimeToolSpec[] = [];
  private readonly sessions = new Map<string, Session>();
  private readonly sockets = new Set<Socket>();
  private waiters: CallWaiter[] = [];
  private http: HttpServer | undefined;
  private boundPort = 0;
  private closed = false;

  private constructor(options: McpTestServerOptions) {
    this.options = options;
  }

  static async start(options: McpTestServerOptions = {}): Promise<McpTestHttpServer> {
    const instance = new McpTestHttpServer(options);
    await instance.listen(options.port ?? 0);
    return instance;
  }

  /** The MCP endpoint. Stable across stop()/restart(). */
  get url(): string {
    return `http://${HOST}:${this.boundPort}${MCP_PATH}`;
  }

  get port(): number {
    return this.boundPort;
  }

  async addTool(name: string, description: string, options: Pick<RuntimeToolSpec, 'resultChars'> = {}): Promise<void> {
    if (this.runtimeTools.some((t) => t.name === name) || isEnabledBuiltin(name, this.options)) {
      throw new Error(`Tool ${name} is already registered`);
    }
    const spec: RuntimeToolSpec = { name, description, ...options };
    this.runtimeTools.push(spec);
    const sessions = [...this.sessions.values()];
    // The client opens its GET SSE stream without awaiting it after `initialized`; a notification
    // sent before that stream exists is silently dropped, so give freshly connected clients a moment.
    await Promise.all(sessions.map((s) => waitForSse(s, 2_000)));
    // registerTool on a connected McpServer sends notifications/tools/list_changed by itself.
    for (const session of sessions) registerRuntimeTool(session.server, spec);
  }

  waitForCalls(n: number, timeoutMs = 5_000): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: CallWaiter = {
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `Timed out after ${timeoutMs}ms waiting for ${n} tool calls; got ${this.calls.length}: ` +
              JSON.stringify(this.calls),
          ),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  async stop(): Promise<void> {
    const http = this.http;
    if (http === undefined) return;
    this.http = undefined;
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.server.close().catch(() => undefined)));
    await new Promise<void>((resolve) => {
      http.close(() => resolve());
      // Closing the sessions already ends their streams, but any other open connection would keep
      // close() waiting, and a server that is "down" must not keep answering on old sockets.
      for (const socket of this.sockets) socket.destroy();
      this.sockets.clear();
    });
  }

  /** Listens again on the same port; sessions from before stop() are gone, so clients must re-initialize. */
  async restart(): Promise<void> {
    if (this.closed) throw new Error('McpTestHttpServer is closed');
    if (this.http !== undefined) return;
    await this.listen(this.boundPort);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stop();
  }

  private async listen(port: number): Promise<void> {
    const http = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJsonRpcError(res, 500, -32603, String(error));
        else res.destroy();
      });
    });
    http.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, HOST, () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (http.address() as AddressInfo).port;
    this.http = http;
  }

  private recordCall(record: ToolCallRecord): void {
    this.calls.push(record);
    const ready = this.waiters.filter((w) => this.calls.length >= w.n);
    this.waiters = this.waiters.filter((w) => this.calls.length < w.n);
    for (const waiter of ready) waiter.resolve();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', `http://${HOST}`).pathname;
    if (path === '/health' && req.method === 'GET') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (path !== MCP_PATH) {
      sendJson(res, 404, { error: 'not found' });
      return;
    }

    const sessionHeader = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(sessionHeader) ? sessionHeader[0] : sessionHeader;
    if (sessionId !== undefined) {
      const session = this.sessions.get(sessionId);
      if (session === undefined) {
        // 404 is what the spec tells clients to treat as "session gone, re-initialize".
        sendJsonRpcError(res, 404, -32001, 'Session not found');
        return;
      }
      if (req.method === 'GET') {
        session.sse = res;
        res.on('close', () => {
          if (session.sse === res) session.sse = undefined;
        });
      }
      await session.transport.handleRequest(req, res);
      return;
    }

    if (req.method !== 'POST') {
      sendJsonRpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      sendJsonRpcError(res, 400, -32700, 'Parse error');
      return;
    }
    if (!isInitializeRequest(body)) {
      sendJsonRpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
      return;
    }
    const transport = await this.createSession();
    await transport.handleRequest(req, res, body);
  }

  private async createSession(): Promise<StreamableHTTPServerTransport> {
    const inFlight = new Map<RequestId, ToolCallRecord>();
    const server = createMcpTestServer(this.options, {
      runtimeTools: this.runtimeTools,
      onAbort: (requestId) => {
        const record = inFlight.get(requestId);
        if (record !== undefined) record.aborted = true;
      },
    });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        this.sessions.set(id, session);
      },
    });
    const session: Session = { transport, server, sse: undefined };
    recordToolCalls(transport, (record, requestId) => {
      inFlight.set(requestId, record);
      this.recordCall(record);
    });
    server.server.onclose = () => {
      const id = transport.sessionId;
      if (id !== undefined && this.sessions.get(id) === session) this.sessions.delete(id);
    };
    await server.connect(transport);
    return transport;
  }
}

function isEnabledBuiltin(name: string, options: McpTestServerOptions): boolean {
  const builtin = (BUILTIN_TOOL_NAMES as readonly string[]).includes(name);
  return builtin && (options.toolNames === undefined || options.toolNames.includes(name));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function sendJsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}

async function waitForSse(session: Session, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // headersSent implies the transport already registered the stream (it does so before responding).
  while (session.sse?.headersSent !== true && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
