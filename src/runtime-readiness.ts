import type { Config } from './config/schema.js';
import type { CrossNode } from './conversations/cross-node.js';
import type { RateLimits } from './limits/rate-limits.js';
import type { FallbackLlmClient } from './llm/fallback-client.js';
import { LlmStatus } from './llm/llm-client.js';
import type { Logger } from './logger.js';
import type { McpRegistry } from './mcp/registry.js';
import { settleWithin } from './settle-within.js';

/** How long a starting node waits for Redis before it serves with per-node rate limits and no leases. */
const REDIS_READY_TIMEOUT_MS = 5_000;

export interface ReadinessDeps {
  config: Pick<Config, 'llm'>;
  llm: FallbackLlmClient;
  mcp: McpRegistry;
  limits: RateLimits;
  crossNode: Pick<CrossNode, 'waitUntilReady'> | undefined;
  logger: Logger;
}

/**
 * What a node finds out before it serves: whether its model answers (said in the log, checked again on an interval),
 * its MCP servers' tools, the models' context lengths (bounded, not on the first user's turn), and Redis for the
 * limits and leases it shares with other nodes. Resolves with the interval's timer, which the runtime stops on close.
 */
export async function getReadyToServe({ config, llm, mcp, limits, crossNode, logger }: ReadinessDeps): Promise<NodeJS.Timeout> {
  const reportLlm = async () => {
    const health = await llm.checkHealth();
    if (health.status === LlmStatus.Ok) logger.info(`Model: ${config.llm.model} loaded successfully`);
    else logger.warn({ llm: health.status }, health.message ?? 'LLM unavailable');
  };
  const healthTimer = setInterval(() => void llm.checkHealth(), config.llm.health_check_interval_s * 1000);
  healthTimer.unref();
  // A node that served before its budgets were shared would count a user's first messages per node, not per user,
  // and would run its first turns without a lease.
  const shareWithNodes = async () => {
    const ready = Promise.all([limits.waitUntilReady(), crossNode?.waitUntilReady()]).then(() => true);
    if (!(await settleWithin(ready, REDIS_READY_TIMEOUT_MS)))
      logger.warn(`Redis not ready after ${REDIS_READY_TIMEOUT_MS} ms: rate limits hold per node, and turns run without a lease, until it is`);
  };
  await Promise.all([reportLlm(), mcp.start(), shareWithNodes(), llm.promptBudgetTokens()]);
  return healthTimer;
}
