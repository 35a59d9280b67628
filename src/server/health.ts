import type { LlmClient } from '../llm/llm-client.js';
import { LlmStatus } from '../llm/llm-client.js';
import type { McpRegistry } from '../mcp/registry.js';
import { checkDatabase, type Db } from '../storage/database.js';
import { errorMessage } from '../errors.js';
import type { HttpRoute } from './ws-server.js';

/**
 * `GET /health`: 200 while the process can serve (Ollama or an MCP server being down is "degraded", with what to do),
 * 503 when the database fails, since then nothing can be saved.
 */
export function healthRoute({ llm, mcp, db }: { llm: LlmClient; mcp: McpRegistry; db: Db }): HttpRoute {
  return async () => {
    let database: { status: 'ok' } | { status: 'error'; message: string } = { status: 'ok' };
    try {
      await checkDatabase(db);
    } catch (error) {
      database = { status: 'error', message: errorMessage(error) };
    }
    const servers = mcp.health();
    const degraded = llm.health().status !== LlmStatus.Ok || servers.some((s) => s.status !== 'connected');
    const status = database.status !== 'ok' ? 'error' : degraded ? 'degraded' : 'ok';
    const { baseUrl, checkedAt, ...rest } = llm.health();
    return {
      status: status === 'error' ? 503 : 200,
      body: { status, llm: { ...rest, base_url: baseUrl, ...(checkedAt ? { checked_at: checkedAt } : {}) }, mcp: servers, database },
    };
  };
}
