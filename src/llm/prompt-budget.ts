import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { LlmClient } from './llm-client.js';

/** One provider of the chain, with what its config says about its window. */
export interface BudgetedProvider {
  /** e.g. `ollama:llama3.1:8b`, as logs name it. */
  name: string;
  client: LlmClient;
  /** `context_size`: the most the config lets a request take; the model's own window wins when it is smaller. */
  contextSize: number;
  /** `max_tokens`: the reply's room, taken out of the window. */
  maxTokens: number;
}

export interface PromptBudgetOptions {
  logger: Logger;
  /** How long reading a model's window may take; past it, `context_size` stands. @default 5000 */
  readTimeoutMs?: number;
  /** After a failed read, `context_size` stands this long before the window is read again. @default 60000 */
  retryAfterFailureMs?: number;
}

interface CachedWindow {
  tokens: Promise<number>;
  /** `performance.now()` after which it is read again: never once read, soon after a failure. */
  expiresAt: number;
}

/**
 * How many tokens a request may take before its reply, so that whichever provider of the chain answers it can take it
 * whole: the smallest of each provider's window minus its `max_tokens`. One budget for the chain rather than one per
 * provider: a turn is fitted once, before anyone knows which provider will answer it, and a fallback that answers
 * after the primary failed gets the same request.
 *
 * A provider's window is its `context_size`, or the model's own context length when the server reports a smaller one.
 * That is read once per provider, bounded in time; a read that fails leaves `context_size` (logged) and is tried again
 * a while later, so that a server down at start-up is not taken at its config's word for ever.
 */
export class PromptBudget {
  private readonly windows = new Map<BudgetedProvider, CachedWindow>();
  private readonly options: Required<PromptBudgetOptions>;

  constructor(
    private readonly providers: readonly BudgetedProvider[],
    options: PromptBudgetOptions,
  ) {
    if (providers.length === 0) throw new RangeError('PromptBudget needs at least one provider');
    this.options = { readTimeoutMs: 5_000, retryAfterFailureMs: 60_000, ...options };
  }

  /** Never rejects: a window that cannot be read is the configured one. */
  async tokens(): Promise<number> {
    const rooms = await Promise.all(this.providers.map(async (p) => (await this.windowOf(p)) - p.maxTokens));
    return Math.min(...rooms);
  }

  private windowOf(provider: BudgetedProvider): Promise<number> {
    const cached = this.windows.get(provider);
    if (cached && performance.now() < cached.expiresAt) return cached.tokens;
    const entry: CachedWindow = { tokens: Promise.resolve(provider.contextSize), expiresAt: Infinity };
    this.windows.set(provider, entry);
    const read = this.read(provider, entry);
    // The first read is awaited (at start-up). A read again after a failure is not: a provider that hangs would hold
    // the turn up to the read's bound, so the turn goes on with the configured window and the next one gets the read.
    if (!cached) entry.tokens = read;
    else void read.then((tokens) => (entry.tokens = Promise.resolve(tokens)));
    return cached ? cached.tokens : read;
  }

  private async read(provider: BudgetedProvider, entry: CachedWindow): Promise<number> {
    const { name, client, contextSize, maxTokens } = provider;
    const { logger, readTimeoutMs, retryAfterFailureMs } = this.options;
    if (!client.contextLength) return contextSize;
    let reported: number | undefined;
    try {
      reported = await client.contextLength(AbortSignal.timeout(readTimeoutMs));
    } catch (error) {
      entry.expiresAt = performance.now() + retryAfterFailureMs;
      logger.warn({ provider: name, contextSize, err: errorMessage(error) }, "Could not read the model's context length; requests are fitted to context_size");
      return contextSize;
    }
    if (reported === undefined || reported >= contextSize) return contextSize;
    logger.info({ provider: name, contextLength: reported, contextSize }, "The model's context length is smaller than context_size; requests are fitted to it");
    // Only the reply's room would be left, or less: the history gets the floor the LLM step keeps for it, and overflows.
    if (reported <= maxTokens) logger.warn({ provider: name, contextLength: reported, maxTokens }, "max_tokens leaves no room for the prompt in the model's context length: lower max_tokens");
    return reported;
  }
}
