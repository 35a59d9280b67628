import { z } from 'zod';
import { httpUrl } from './field-schemas.js';

/** `[llm]`, its `[[llm.fallbacks]]` and `[summarization.llm]`: which providers answer, and how. */

export const LlmProvider = { Ollama: 'ollama', OpenAi: 'openai', Anthropic: 'anthropic' } as const;
export type LlmProvider = (typeof LlmProvider)[keyof typeof LlmProvider];

/** Where each provider answers when `base_url` is not given. */
export const DEFAULT_BASE_URLS: Record<LlmProvider, string> = {
  ollama: 'http://localhost:11434',
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
};

/** The keys one provider needs: `[llm]` itself, and each `[[llm.fallbacks]]` entry. */
const llmProviderFields = {
  /** `ollama` (its own API), `openai` (any OpenAI-compatible Chat Completions server) or `anthropic` (the Messages API). @default "ollama" */
  provider: z.enum(['ollama', 'openai', 'anthropic']).default('ollama'),
  /** @default "llama3.1:8b" */
  model: z.string().min(1).default('llama3.1:8b'),
  /** @default the provider's: "http://localhost:11434", "https://api.openai.com/v1", "https://api.anthropic.com" */
  base_url: httpUrl.optional(),
  /** For `openai` and `anthropic`; else `OPENAI_API_KEY` / `ANTHROPIC_API_KEY`. Never logged. @default "" */
  api_key: z.string().default(''),
  /** @default 0.7 */
  temperature: z.number().min(0).max(2).default(0.7),
  /** The reply's length cap (Ollama's `num_predict`); counted in the context budget. @default 2000 */
  max_tokens: z.int().positive().default(2000),
  /** The model's context window; Ollama gets it as `num_ctx` (it silently truncates longer prompts when unset). @default 4096 */
  context_size: z.int().positive().default(4096),
  /**
   * Ollama: how long the model stays loaded after a request (`"30m"`, `"-1"` for ever), so the next turn finds it and
   * its cached prompt prefix warm. Unset: Ollama's own default (5 minutes).
   */
  keep_alive: z.string().regex(/^-?\d+(\.\d+)?(ms|s|m|h)?$/, 'a duration like "30m", "1h" or "-1"').optional(),
};

function withBaseUrl<T extends { provider: LlmProvider; base_url?: string | undefined }>(entry: T): T & { base_url: string } {
  return { ...entry, base_url: entry.base_url ?? DEFAULT_BASE_URLS[entry.provider] };
}

/** The reply's room comes out of the context window: a reply as large as the window leaves nothing to ask with. */
const replyFits = [(entry: { max_tokens: number; context_size: number }) => entry.max_tokens < entry.context_size, { message: 'max_tokens must be smaller than context_size' }] as const;

export const LlmProviderConfigSchema = z
  .strictObject(llmProviderFields)
  .refine(...replyFits)
  .transform(withBaseUrl);
export type LlmProviderConfig = z.infer<typeof LlmProviderConfigSchema>;

export const LlmConfigSchema = z
  .strictObject({
    ...llmProviderFields,
    /** How often the provider health check runs, in seconds. @default 30 */
    health_check_interval_s: z.int().positive().default(30),
    /** Tries of a provider again on a transient error (unreachable, 429, 5xx, 529) before its first token, with backoff. @default 2 */
    retries: z.int().min(0).max(10).default(2),
    /** Providers tried in order when this one is unreachable, overloaded or fails before its first token. @default [] */
    fallbacks: z.array(LlmProviderConfigSchema).max(5).default([]),
  })
  .refine(...replyFits)
  .transform(withBaseUrl);
