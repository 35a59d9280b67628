import type { LlmConfig, LlmProviderConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { TRACING_OFF, type Tracing } from '../tracing/setup-tracing.js';
import { TracedLlmClient } from '../tracing/traced-llm-client.js';
import { AnthropicClient } from './anthropic-client.js';
import { FallbackLlmClient } from './fallback-client.js';
import type { LlmClient } from './llm-client.js';
import { OllamaClient } from './ollama-client.js';
import { OpenAiClient } from './openai-client.js';

const API_KEY_VARIABLES = { openai: 'OPENAI_API_KEY', anthropic: 'ANTHROPIC_API_KEY' } as const;

/** `api_key`, else the provider's usual environment variable; `""` for servers that take none (vLLM, llama.cpp). */
export function apiKeyOf(entry: LlmProviderConfig, env: NodeJS.ProcessEnv): string {
  if (entry.provider === 'ollama') return '';
  return entry.api_key || env[API_KEY_VARIABLES[entry.provider]] || '';
}

/**
 * `[llm]` and its `[[llm.fallbacks]]` as one client: retried on transient errors, the next provider when one fails
 * before its first token.
 */
export function createLlmChain(config: LlmConfig, logger: Logger, env: NodeJS.ProcessEnv = process.env, tracing: Tracing = TRACING_OFF): FallbackLlmClient {
  const primary = `${config.provider}:${config.model}`;
  const providers = [config, ...config.fallbacks].map((entry) => ({
    name: `${entry.provider}:${entry.model}`,
    client: createLlmClient(entry, env, tracing),
    contextSize: entry.context_size,
    maxTokens: entry.max_tokens,
  }));
  return new FallbackLlmClient(providers, {
    retries: config.retries,
    logger,
    onAnswered: (name) => {
      if (name !== primary) logger.info({ provider: name, primary }, 'A fallback provider answered');
    },
  });
}

/**
 * The client for one configured provider (`[llm]` or a `[[llm.fallbacks]]` entry); with tracing on, each of its calls
 * is a `chat` span.
 */
export function createLlmClient(entry: LlmProviderConfig, env: NodeJS.ProcessEnv = process.env, tracing: Tracing = TRACING_OFF): LlmClient {
  const client = providerClient(entry, env);
  if (!tracing.enabled) return client;
  // The Anthropic client sends no temperature (its API version dropped it): the span must not claim one.
  const temperature = entry.provider === 'anthropic' ? {} : { temperature: entry.temperature };
  return new TracedLlmClient(client, { provider: entry.provider, baseUrl: entry.base_url, maxTokens: entry.max_tokens, ...temperature }, tracing);
}

function providerClient(entry: LlmProviderConfig, env: NodeJS.ProcessEnv): LlmClient {
  switch (entry.provider) {
    case 'ollama':
      return new OllamaClient(entry);
    case 'anthropic': {
      const apiKey = apiKeyOf(entry, env);
      // At start, not on the first message: a missing key would otherwise look like an outage to every user.
      if (apiKey === '') throw new ConfigError(`[llm] provider = "anthropic" needs an API key: set [llm] api_key or ANTHROPIC_API_KEY.`);
      return new AnthropicClient(entry, { apiKey });
    }
    case 'openai':
      return new OpenAiClient(entry, { apiKey: apiKeyOf(entry, env) });
  }
}
