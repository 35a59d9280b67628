/**
 * Serves the MCP test server over stdio, for tests that spawn it as a child process:
 *
 *   command: process.execPath,
 *   args: ['--import', 'tsx', '<abs>/tests/support/mcp-test-server-stdio.ts', '--name', 'x', '--tools', 'add,fail']
 *
 * stdout carries the protocol, so nothing else may be written to it.
 */
import { parseArgs } from 'node:util';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createMcpTestServer } from './mcp-test-server.js';
import type { McpTestServerOptions } from './mcp-test-server.js';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    tools: { type: 'string' },
  },
});

const options: McpTestServerOptions = {};
if (values.name !== undefined) options.name = values.name;
if (values.tools !== undefined) {
  options.toolNames = values.tools.split(',').map((t) => t.trim()).filter((t) => t.length > 0);
}

const server = createMcpTestServer(options);
// The client closes stdin to ask us to go; exiting promptly spares it the SIGTERM fallback.
process.stdin.on('end', () => {
  void server.close().finally(() => process.exit(0));
});
await server.connect(new StdioServerTransport());
