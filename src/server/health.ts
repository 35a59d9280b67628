import type { LlmClient } from '../llm/llm-client.js';
import { LlmStatus } from '../llm/llm-client.js';
import type { McpRegistry } from '../mcp/registry.js';
import { checkDatabase, type Db } from '../storage/database.js';
import { DatabaseStatus, type DatabaseHealth, type StorageHealth, type UnsavedCount } from '../storage/storage-health.js';
import { errorMessage } from '../errors.js';
import type { SummaryQueue } from '../queue/summary-queue.js';
import type { HttpRoute } from './ws-server.js';

export interface HealthDeps {
  llm: LlmClient;
  mcp: McpRegistry;
  db: Db;
  /** Whether writes land (reads are checked here): the last write's outcome, and what waits in memory to be written. */
  writes?: { health: StorageHealth; unsaved: () => UnsavedCount };
  queue: SummaryQueue | undefined;
  /** Summaries are on in the config but have no queue: why (no Redis). Undefined when they are off, or running. */
  summariesUnavailable?: string | undefined;
}

/**
 * `GET /health`: 200 while the process can serve (Ollama, an MCP server or the summaries pipeline being down is
 * "degraded", with what to do), 503 when the database cannot even be read. A database that reads but refuses writes
 * (a full disk) is "degraded" with the cause: answers go on, and what cannot be saved waits in memory. Summaries that
 * are configured but could not start are "down", never "off": mail would arrive and nobody would be told.
 */
export function healthRoute({ llm, mcp, db, writes, queue, summariesUnavailable }: HealthDeps): HttpRoute {
  return async () => {
    let summaries: { status: 'off' } | { status: 'ok'; jobs: Record<string, number> } | { status: 'down'; message: string } = { status: 'off' };
    if (!queue && summariesUnavailable) summaries = { status: 'down', message: summariesUnavailable };
    if (queue) {
      try {
        summaries = { status: 'ok', jobs: await queue.counts() };
      } catch (error) {
        summaries = { status: 'down', message: `Redis: ${errorMessage(error)}` };
      }
    }
    let database: DatabaseHealth = { status: DatabaseStatus.Ok };
    try {
      await checkDatabase(db);
      if (writes) database = writes.health.status(writes.unsaved());
    } catch (error) {
      database = { status: DatabaseStatus.Error, message: errorMessage(error) };
    }
    const servers = mcp.health();
    const degraded =
      llm.health().status !== LlmStatus.Ok || servers.some((s) => s.status !== 'connected') || summaries.status === 'down' || database.status === DatabaseStatus.Degraded;
    const status = database.status === DatabaseStatus.Error ? 'error' : degraded ? 'degraded' : 'ok';
    const { baseUrl, checkedAt, ...rest } = llm.health();
    return {
      status: status === 'error' ? 503 : 200,
      body: { status, llm: { ...rest, base_url: baseUrl, ...(checkedAt ? { checked_at: checkedAt } : {}), ...providersOf(llm) }, mcp: servers, database, summaries },
    };
  };
}

/** With fallbacks, every provider's state: the chat works while any answers. */
function providersOf(llm: LlmClient): { providers?: Array<{ name: string; status: string; base_url: string; message?: string }> } {
  const each = llm.healthOfEach?.() ?? [];
  if (each.length < 2) return {};
  return { providers: each.map(({ name, health }) => ({ name, status: health.status, base_url: health.baseUrl, ...(health.message ? { message: health.message } : {}) })) };
}
