import { EventEmitter } from 'node:events';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Config, McpServerConfig } from '../config/schema.js';
import type { ToolResult } from '../conversations/chat-message.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { McpServerConnection, type McpServerStatus } from './server-connection.js';
import { NAMESPACE_SEPARATOR, type ToolDescriptor } from './tool-descriptor.js';

/**
 * The name the mail server gets when it comes from `[mcp] mail_server_url`. That entry is pinned even if the server
 * does not advertise `MAILBOX_CAPABILITY` (an older or external mail server); any other is pinned when it does.
 */
export const MAIL_SERVER_NAME = 'mail';

export interface McpServerHealth {
  name: string;
  status: McpServerStatus;
  tools: number;
  error?: string;
}

export interface McpRegistryEvents {
  tools_changed: [tools: ToolDescriptor[]];
}

/** `http://host:8090` means the server's `/mcp` endpoint, as the seed's config wrote it without a path. */
export function mailServerEndpoint(url: string): string {
  const parsed = new URL(url);
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = '/mcp';
  return parsed.toString();
}

/**
 * Every configured server: the mail server first (`mail_server_url`, else the bundled one at `[mail] mcp_listen_addr`),
 * then `[[mcp.servers]]`. The mail server gets `[mail] auth_token` as its bearer token.
 */
export function configuredServers(config: Pick<Config, 'mcp' | 'mail'>): McpServerConfig[] {
  const servers: McpServerConfig[] = [];
  const mailUrl = config.mcp.mail_server_url ?? `http://${config.mail.mcp_listen_addr}`;
  if (mailUrl) {
    servers.push({ name: MAIL_SERVER_NAME, url: mailServerEndpoint(mailUrl), ...(config.mail.auth_token ? { bearer_token: config.mail.auth_token } : {}) });
  }
  servers.push(...config.mcp.servers);
  return servers;
}

function resultText(result: CallToolResult): string {
  return result.content
    .map((item) => {
      switch (item.type) {
        case 'text':
          return item.text;
        case 'resource':
          return 'text' in item.resource ? item.resource.text : `[resource ${item.resource.uri}]`;
        case 'resource_link':
          return `[resource ${item.uri}]`;
        default:
          return `[${item.type}]`;
      }
    })
    .join('\n');
}

/**
 * All MCP servers behind one catalog: tool discovery, name collisions (namespaced as `<server>__<tool>`), and routing
 * each call to the server that owns the tool.
 */
export class McpRegistry extends EventEmitter<McpRegistryEvents> {
  private readonly connections: McpServerConnection[];
  private catalog = new Map<string, ToolDescriptor>();
  private closed = false;

  constructor(
    servers: readonly McpServerConfig[],
    private readonly options: { logger: Logger; toolTimeoutMs: number; reconnectInitialMs: number; reconnectMaxMs: number; pingIntervalMs?: number },
  ) {
    super();
    const names = new Set<string>();
    for (const server of servers) {
      if (names.has(server.name)) throw new Error(`two MCP servers are named "${server.name}"; names must be unique`);
      names.add(server.name);
    }
    this.connections = servers.map((server) => {
      const connection = new McpServerConnection(server, options);
      connection.on('tools', () => this.rebuildCatalog());
      return connection;
    });
  }

  /** Connects to every server at once; resolves when each has answered or failed its first attempt. */
  async start(): Promise<void> {
    await Promise.all(this.connections.map((c) => c.start()));
  }

  private rebuildCatalog(): void {
    const owners = new Map<string, number>();
    for (const connection of this.connections) for (const tool of connection.tools) owners.set(tool.name, (owners.get(tool.name) ?? 0) + 1);
    const catalog = new Map<string, ToolDescriptor>();
    for (const connection of this.connections) {
      for (const tool of connection.tools) {
        const name = (owners.get(tool.name) ?? 0) > 1 ? `${connection.name}${NAMESPACE_SEPARATOR}${tool.name}` : tool.name;
        catalog.set(name, {
          name,
          server: connection.name,
          remoteName: tool.name,
          description: tool.description ?? tool.title ?? tool.name,
          inputSchema: tool.inputSchema as Record<string, unknown>,
          annotations: tool.annotations ?? {},
          pinsMailbox: connection.servesMailboxes || connection.name === MAIL_SERVER_NAME,
        });
      }
    }
    this.catalog = catalog;
    this.emit('tools_changed', [...catalog.values()]);
  }

  tools(): ToolDescriptor[] {
    return [...this.catalog.values()];
  }

  find(name: string): ToolDescriptor | undefined {
    return this.catalog.get(name);
  }

  /**
   * Never throws: an unknown tool, a server that is down or a failing call all become an `isError` result. `meta` goes
   * in the request's `params._meta` (the caller's trace context).
   */
  async callTool(name: string, args: Record<string, unknown>, signal: AbortSignal, meta?: Record<string, string>): Promise<ToolResult> {
    const tool = this.catalog.get(name);
    if (!tool) {
      const available = [...this.catalog.keys()].join(', ') || 'none';
      return { text: `Tool "${name}" is not available right now (available: ${available}).`, isError: true };
    }
    const connection = this.connections.find((c) => c.name === tool.server);
    if (!connection) return { text: `Tool "${name}" has no server.`, isError: true };
    try {
      const result = await connection.callTool(tool.remoteName, args, { signal, timeoutMs: this.options.toolTimeoutMs, ...(meta ? { meta } : {}) });
      return {
        text: resultText(result),
        ...(result.structuredContent ? { structured: result.structuredContent } : {}),
        isError: result.isError === true,
      };
    } catch (error) {
      if (signal.aborted) return { text: 'The call was cancelled.', isError: true };
      return { text: `Tool "${name}" failed: ${errorMessage(error)}`, isError: true };
    }
  }

  health(): McpServerHealth[] {
    return this.connections.map((c) => ({ name: c.name, status: c.status, tools: c.tools.length, ...(c.lastError ? { error: c.lastError } : {}) }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.connections.map((c) => c.close()));
  }
}
