import { ErrorCode, errorMessage, LlmRequestError, LlmUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { retryDelayMs } from '../retry-delay.js';
import { LlmStatus, type LlmChatRequest, type LlmClient, type LlmCompletionRequest, type LlmHealth, type LlmStreamEvent } from './llm-client.js';
import { PromptBudget, type BudgetedProvider } from './prompt-budget.js';

/** One configured provider (`[llm]` first, then each `[[llm.fallbacks]]`), named as logs and metrics name it. */
export type NamedLlmClient = BudgetedProvider;

export interface FallbackOptions {
  /** Tries of one provider on a transient error before the next provider is asked. @default 2 */
  retries?: number;
  /** Backoff between those tries (doubling, jittered); `Retry-After` wins when longer, up to `maxRetryAfterMs`. @default 500 */
  minRetryDelayMs?: number;
  /** @default 4000 */
  maxRetryDelayMs?: number;
  /** A `Retry-After` longer than this is not waited for: the next provider answers instead. @default 10000 */
  maxRetryAfterMs?: number;
  logger: Logger;
  /** Told which provider answered each call. */
  onAnswered?: (provider: string) => void;
}

/** Overloaded or failing on its side: worth another try of the same provider. */
const TRANSIENT_STATUSES = new Set([408, 409, 429, 500, 502, 503, 504, 529]);

function isTransient(error: unknown): boolean {
  if (error instanceof LlmUnavailableError) return error.code === ErrorCode.LlmUnavailable;
  if (error instanceof LlmRequestError) return error.status === undefined || TRANSIENT_STATUSES.has(error.status);
  return false;
}

function retryAfterOf(error: unknown): number | undefined {
  return error instanceof LlmRequestError ? error.retryAfterMs : undefined;
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * The configured providers as one client. A provider that is unreachable, overloaded or failing before its first
 * token is retried (bounded, with backoff and `Retry-After`), then the next one answers the turn. Once a token or tool
 * call has been shown, nothing is retried silently: the error ends the turn with what was shown kept.
 */
export class FallbackLlmClient implements LlmClient {
  private readonly options: Required<Omit<FallbackOptions, 'onAnswered'>> & Pick<FallbackOptions, 'onAnswered'>;
  private readonly budget: PromptBudget;

  constructor(
    private readonly providers: readonly NamedLlmClient[],
    options: FallbackOptions,
  ) {
    if (providers.length === 0) throw new RangeError('FallbackLlmClient needs at least one provider');
    this.options = { retries: 2, minRetryDelayMs: 500, maxRetryDelayMs: 4_000, maxRetryAfterMs: 10_000, ...options };
    this.budget = new PromptBudget(providers, { logger: this.options.logger });
  }

  /**
   * Tokens a request may take before its reply, whichever provider answers it: see `PromptBudget`. The first call
   * reads each model's context length (bounded); later ones are answered from the cache. Never rejects.
   */
  promptBudgetTokens(): Promise<number> {
    return this.budget.tokens();
  }

  get model(): string {
    return (this.providers[0] as NamedLlmClient).client.model;
  }

  async *stream(request: LlmChatRequest): AsyncIterable<LlmStreamEvent> {
    let last: unknown;
    for (const provider of this.providers) {
      for (let attempt = 1; ; attempt++) {
        let shown = false;
        try {
          for await (const event of provider.client.stream(request)) {
            if (event.type !== 'done') {
              shown = true;
              yield event;
            } else {
              this.options.onAnswered?.(provider.name);
              yield { ...event, provider: provider.name };
            }
          }
          return;
        } catch (error) {
          if (shown || request.signal.aborted) throw error;
          last = error;
          if (!(await this.tryAgain(provider, attempt, error, request.signal))) break;
        }
      }
    }
    throw last;
  }

  async complete(request: LlmCompletionRequest): Promise<string> {
    let last: unknown;
    for (const [index, provider] of this.providers.entries()) {
      // A model named for the call (`[summarization] model`) belongs to the first provider; the others use their own.
      const asked = index === 0 ? request : { ...request, model: undefined };
      for (let attempt = 1; ; attempt++) {
        try {
          const answer = await provider.client.complete(asked);
          this.options.onAnswered?.(provider.name);
          return answer;
        } catch (error) {
          if (request.signal?.aborted) throw error;
          last = error;
          if (!(await this.tryAgain(provider, attempt, error, request.signal))) break;
        }
      }
    }
    throw last;
  }

  /** The first provider's health, or the first healthy one's when it is down: the chat works if any answers. */
  async checkHealth(): Promise<LlmHealth> {
    const all = await Promise.all(this.providers.map((p) => p.client.checkHealth()));
    return all.find((h) => h.status === LlmStatus.Ok) ?? (all[0] as LlmHealth);
  }

  health(): LlmHealth {
    const all = this.providers.map((p) => p.client.health());
    return all.find((h) => h.status === LlmStatus.Ok) ?? (all[0] as LlmHealth);
  }

  /** Every provider's health, for `/health`. */
  healthOfEach(): Array<{ name: string; health: LlmHealth }> {
    return this.providers.map((p) => ({ name: p.name, health: p.client.health() }));
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.providers.map((p) => p.client.close()));
  }

  /** Whether to ask the same provider again (after waiting); false moves on to the next provider. */
  private async tryAgain(provider: NamedLlmClient, attempt: number, error: unknown, signal: AbortSignal | undefined): Promise<boolean> {
    const { retries, minRetryDelayMs, maxRetryDelayMs, maxRetryAfterMs, logger } = this.options;
    const retryAfter = retryAfterOf(error);
    const again = isTransient(error) && attempt <= retries && (retryAfter === undefined || retryAfter <= maxRetryAfterMs);
    logger.warn({ provider: provider.name, attempt, err: errorMessage(error), retrying: again }, again ? 'LLM call failed before its first token; trying again' : 'LLM call failed before its first token; asking the next provider, if any');
    if (!again) return false;
    await pause(Math.max(retryDelayMs(attempt, minRetryDelayMs, maxRetryDelayMs), retryAfter ?? 0), signal);
    return !signal?.aborted;
  }
}
