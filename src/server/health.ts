import type { LlmClient } from '../llm/llm-client.js';
import { LlmStatus } from '../llm/llm-client.js';
import type { McpRegistry } from '../mcp/registry.js';
import { checkDatabase, type Db } from '../storage/database.js';
import { errorMessage } from '../errors.js';
import type { SummaryQueue } from '../queue/summary-queue.js';
import type { HttpRoute } from './ws-server.js';

/**
 * `GET /health`: 200 while the process can serve (Ollama or an MCP server being down is "degraded", with what to do),
 * 503 when the database fails, since then nothing can be saved.
 */
export function healthRoute({ llm, mcp, db, queue }: { llm: LlmClient; mcp: McpRegistry; db: Db; queue: SummaryQueue | undefined }): HttpRoute {
  return async () => {
    let summaries: { status: 'off' } | { status: 'ok'; jobs: Record<string, number> } | { status: 'down'; message: string } = { status: 'off' };
    if (queue) {
      try {
        summaries = { status: 'ok', jobs: await queue.counts() };
      } catch (error) {
        summaries = { status: 'down', message: `Redis: ${errorMessage(error)}` };
      }
    }
    let database: { status: 'ok' } | { status: 'error'; message: string } = { status: 'ok' };
    try {
      await checkDatabase(db);
    } catch (error) {
      database = { status: 'error', message: errorMessage(error) };
    }
    const servers = mcp.health();
    const degraded = llm.health().status !== LlmStatus.Ok || servers.some((s) => s.status !== 'connected') || summaries.status === 'down';
    const status = database.status !== 'ok' ? 'error' : degraded ? 'degraded' : 'ok';
    const { baseUrl, checkedAt, ...rest } = llm.health();
    return {
      status: status === 'error' ? 503 : 200,
      body: { status, llm: { ...rest, base_url: baseUrl, ...(checkedAt ? { checked_at: checkedAt } : {}) }, mcp: servers, database, summaries },
    };
  };
}
