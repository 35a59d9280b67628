import type { LlmProviderConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { LlmClient } from './llm-client.js';
import { OllamaClient } from './ollama-client.js';
import { OpenAiClient } from './openai-client.js';

const API_KEY_VARIABLES = { openai: 'OPENAI_API_KEY', anthropic: 'ANTHROPIC_API_KEY' } as const;

/** `api_key`, else the provider's usual environment variable; `""` for servers that take none (vLLM, llama.cpp). */
export function apiKeyOf(entry: LlmProviderConfig, env: NodeJS.ProcessEnv): string {
  if (entry.provider === 'ollama') return '';
  return entry.api_key || env[API_KEY_VARIABLES[entry.provider]] || '';
}

/** The client for one configured provider (`[llm]` or a `[[llm.fallbacks]]` entry). */
export function createLlmClient(entry: LlmProviderConfig, env: NodeJS.ProcessEnv = process.env): LlmClient {
  switch (entry.provider) {
    case 'ollama':
      return new OllamaClient(entry);
    case 'openai':
      return new OpenAiClient(entry, { apiKey: apiKeyOf(entry, env) });
    case 'anthropic':
      void apiKeyOf(entry, env);
      throw new ConfigError(`[llm] provider = "${entry.provider}" is not available in this build yet.`);
  }
}
