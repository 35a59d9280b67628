import { APIConnectionError, APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import { ErrorCode, LlmRequestError, LlmUnavailableError } from '../errors.js';
import { retryAfterMsOf } from './retry-after.js';

/**
 * An `event: error` mid-stream comes after a 200, so it has no status of its own; these are the statuses Anthropic uses
 * for the same error types before a stream starts. Retry logic keys on the status, so both paths must agree.
 */
const STATUS_OF_ERROR_TYPE: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};


export interface AnthropicErrorContext {
  baseUrl: string;
  model: string;
  timeoutMs: number;
}

export function anthropicUnreachable(context: AnthropicErrorContext, cause: unknown): LlmUnavailableError {
  return new LlmUnavailableError(
    ErrorCode.LlmUnavailable,
    `Anthropic is not reachable at ${context.baseUrl}. Check the network, or [llm] base_url if you point it at a proxy.`,
    context.baseUrl,
    { cause },
  );
}

export function anthropicModelMissing(context: AnthropicErrorContext, cause?: unknown): LlmUnavailableError {
  return new LlmUnavailableError(
    ErrorCode.ModelNotFound,
    `Model "${context.model}" is not available from Anthropic at ${context.baseUrl}. Set [llm] model to a model your key can use (e.g. "claude-sonnet-5").`,
    context.baseUrl,
    cause === undefined ? undefined : { cause },
  );
}

/** The API said no to the key. The key itself is never in the message: messages reach logs and, as errors, users. */
export function anthropicKeyRefused(status: number, cause: unknown): LlmRequestError {
  return new LlmRequestError(
    `Anthropic refused the API key (${status}). Set [llm] api_key or ANTHROPIC_API_KEY to a valid key for this workspace.`,
    status,
    { cause },
  );
}

/** Anything the SDK threw, as our errors: unreachable, model missing, or a request error keeping status and retry-after. */
export function translateAnthropicError(error: unknown, context: AnthropicErrorContext): unknown {
  if (error instanceof APIConnectionTimeoutError) {
    return new LlmUnavailableError(ErrorCode.LlmUnavailable, `Anthropic at ${context.baseUrl} did not answer within ${context.timeoutMs / 1000}s.`, context.baseUrl, { cause: error });
  }
  if (error instanceof APIConnectionError) return anthropicUnreachable(context, error);
  if (!(error instanceof APIError)) {
    if (error instanceof LlmRequestError || error instanceof LlmUnavailableError) return error;
    return new LlmRequestError(`The Anthropic request failed: ${error instanceof Error ? error.message : String(error)}`, undefined, { cause: error });
  }
  const status = error.status ?? (error.type ? STATUS_OF_ERROR_TYPE[error.type] : undefined);
  if (status === 401 || status === 403) return anthropicKeyRefused(status, error);
  // The model is the only name in a Messages request's path or body that can be "not found".
  if (status === 404) return anthropicModelMissing(context, error);
  const what = [error.type, error.apiMessage].filter(Boolean).join(': ') || 'no details';
  const during = error.status === undefined ? ' mid-stream' : '';
  return new LlmRequestError(`Anthropic answered ${status ?? 'an error'}${during} (${what})`, status, { cause: error, retryAfterMs: retryAfterMsOf(error.headers) });
}
