/**
 * A stdio MCP server with one tool, `report_env`, that answers with the environment it was started with: for tests
 * of what a spawned server inherits from the runtime. stdout carries the protocol, so nothing else may be written to it.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

const server = new McpServer({ name: 'env-report', version: '1.0.0' });
server.registerTool('report_env', { description: 'The environment of this process' }, () => ({
  content: [{ type: 'text', text: JSON.stringify(process.env) }],
  structuredContent: { env: { ...process.env } },
}));
process.stdin.on('end', () => {
  void server.close().finally(() => process.exit(0));
});
await server.connect(new StdioServerTransport());
