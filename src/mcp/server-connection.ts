import { EventEmitter } from 'node:events';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ToolListChangedNotificationSchema, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { MAILBOX_CAPABILITY } from './tool-descriptor.js';

export const McpServerStatus = {
  Connecting: 'connecting',
  Connected: 'connected',
  Down: 'down',
  Closed: 'closed',
} as const;
export type McpServerStatus = (typeof McpServerStatus)[keyof typeof McpServerStatus];

export interface McpConnectionOptions {
  logger: Logger;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  /** How often a connected server is pinged, so that tools vanish while it is down instead of failing at call time. @default 10000 */
  pingIntervalMs?: number;
}

export interface McpConnectionEvents {
  tools: [tools: Tool[]];
  status: [status: McpServerStatus];
}

/** Raised for calls to a server that is not connected; the message is meant for the LLM and the user alike. */
export class McpServerUnavailableError extends Error {
  constructor(readonly server: string, reason: string | undefined) {
    super(`MCP server "${server}" is unavailable${reason ? ` (${reason})` : ''}; the runtime keeps retrying in the background.`);
    this.name = 'McpServerUnavailableError';
  }
}

const CLIENT_INFO = { name: 'ai-runtime', version: '0.1.0' };

/**
 * What a spawned MCP server inherits from the runtime: enough to find programs and speak the user's locale, nothing
 * else. The runtime's environment holds its secrets (`JWT_SECRET`, `ADMIN_TOKEN`, `DATABASE_URL`, …); a server that
 * needs a value gets it through its own `env` in the config.
 */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'] as const;

export function stdioEnvironment(configured: Record<string, string> | undefined, parent: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = parent[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...configured };
}

/**
 * One MCP server: connects, lists tools (again on `tools/list_changed`), and reconnects with exponential backoff
 * whenever the server goes away, at start-up or later.
 */
export class McpServerConnection extends EventEmitter<McpConnectionEvents> {
  status: McpServerStatus = McpServerStatus.Connecting;
  tools: Tool[] = [];
  /** Whether the connected server advertised `MAILBOX_CAPABILITY` (read at every connect: a server may be replaced). */
  servesMailboxes = false;
  lastError: string | undefined;
  private client: Client | undefined;
  private retryDelay: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly options: Required<McpConnectionOptions>;

  constructor(readonly config: McpServerConfig, options: McpConnectionOptions) {
    super();
    this.options = { pingIntervalMs: 10_000, ...options };
    this.retryDelay = options.reconnectInitialMs;
  }

  get name(): string {
    return this.config.name;
  }

  /** Resolves after the first attempt, whether it worked or not: a server that is down must not block start-up. */
  start(): Promise<void> {
    return this.connect();
  }

  private createTransport(): Transport {
    if ('url' in this.config) {
      const headers: Record<string, string> = this.config.bearer_token ? { Authorization: `Bearer ${this.config.bearer_token}` } : {};
      return new StreamableHTTPClientTransport(new URL(this.config.url), { requestInit: { headers } });
    }
    return new StdioClientTransport({
      command: this.config.command,
      args: this.config.args,
      env: stdioEnvironment(this.config.env),
      stderr: 'pipe',
    });
  }

  private async connect(): Promise<void> {
    if (this.status === McpServerStatus.Closed) return;
    this.setStatus(McpServerStatus.Connecting);
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      if (this.client === client) this.refreshTools(client).catch((err) => this.markDown(client, err));
    });
    this.client = client;
    try {
      await client.connect(this.createTransport());
      this.servesMailboxes = client.getServerCapabilities()?.experimental?.[MAILBOX_CAPABILITY] !== undefined;
      // Only now: during a failed connect the transport also closes, and the real error is the useful one.
      client.onclose = () => {
        if (this.client === client) this.markDown(client, new Error('connection closed'));
      };
      await this.refreshTools(client);
      if (this.client !== client) return;
      this.retryDelay = this.options.reconnectInitialMs;
      this.lastError = undefined;
      this.setStatus(McpServerStatus.Connected);
      this.startPing(client);
    } catch (error) {
      this.markDown(client, error);
    }
  }

  private async refreshTools(client: Client): Promise<void> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined);
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    if (this.client !== client) return;
    this.tools = tools;
    this.options.logger.info({ server: this.name }, `Discovered ${tools.length} tools: ${tools.map((t) => t.name).join(', ')}`);
    this.emit('tools', tools);
  }

  private startPing(client: Client): void {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      client.ping({ timeout: this.options.pingIntervalMs }).catch((err) => this.markDown(client, err));
    }, this.options.pingIntervalMs);
    this.pingTimer.unref();
  }

  /** Drops the client and schedules a reconnect; a stale client's late failures are ignored. */
  private markDown(client: Client, error: unknown): void {
    if (this.client !== client || this.status === McpServerStatus.Closed) return;
    this.client = undefined;
    clearInterval(this.pingTimer);
    this.lastError = errorMessage(error);
    const hadTools = this.tools.length > 0;
    this.tools = [];
    this.setStatus(McpServerStatus.Down);
    if (hadTools) this.emit('tools', []);
    // Loud once per outage, quiet while it lasts.
    const firstFailure = this.retryDelay === this.options.reconnectInitialMs;
    const target = 'url' in this.config ? this.config.url : [this.config.command, ...this.config.args].join(' ');
    this.options.logger[firstFailure ? 'warn' : 'debug'](
      { server: this.name, target, err: this.lastError, retryInMs: this.retryDelay },
      `MCP server "${this.name}" (${target}) is unavailable: ${this.lastError}; its tools are missing until it answers (retrying with backoff)`,
    );
    client.close().catch(() => undefined);
    this.retryTimer = setTimeout(() => void this.connect(), this.retryDelay);
    this.retryTimer.unref();
    this.retryDelay = Math.min(this.retryDelay * 2, this.options.reconnectMaxMs);
  }

  private setStatus(status: McpServerStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.emit('status', status);
  }

  /** `meta` is sent as the request's `params._meta` (W3C `traceparent`/`tracestate`, as MCP tracing expects them). */
  async callTool(name: string, args: Record<string, unknown>, options: { signal: AbortSignal; timeoutMs: number; meta?: Record<string, string> }): Promise<CallToolResult> {
    const client = this.client;
    if (!client || this.status !== McpServerStatus.Connected) throw new McpServerUnavailableError(this.name, this.lastError);
    try {
      const params = { name, arguments: args, ...(options.meta ? { _meta: options.meta } : {}) };
      return (await client.callTool(params, undefined, { signal: options.signal, timeout: options.timeoutMs })) as CallToolResult;
    } catch (error) {
      if (!options.signal.aborted && isConnectionFailure(error)) {
        this.markDown(client, error);
        throw new McpServerUnavailableError(this.name, errorMessage(error));
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.status = McpServerStatus.Closed;
    this.client = undefined;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    await client?.close().catch(() => undefined);
  }
}

/** Network-level failures (as opposed to a tool or protocol error) mean the server itself is gone. */
function isConnectionFailure(error: unknown): boolean {
  const text = `${errorMessage(error)} ${error instanceof Error && error.cause ? errorMessage(error.cause) : ''}`;
  return /fetch failed|ECONNREFUSED|ECONNRESET|EPIPE|socket hang up|Session not found|Connection closed|HTTP 404/i.test(text);
}
