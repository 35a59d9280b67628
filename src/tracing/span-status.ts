import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import { LlmRequestError, RuntimeError, errorMessage } from '../errors.js';

/** `error.type` of work stopped on purpose (the user's Stop, a shutdown, an actor stopped mid-call). */
export const CANCELLED = 'cancelled';
/** The conventions' value when nothing more specific is known. */
const OTHER = '_OTHER';

/**
 * A low-cardinality `error.type`, as the conventions ask: the provider's HTTP status, else our wire error code, else
 * the error's class name. Never the message (unbounded, and it may quote the user).
 */
export function errorTypeOf(error: unknown): string {
  if (error instanceof LlmRequestError && error.status !== undefined) return String(error.status);
  if (error instanceof RuntimeError) return error.code;
  if (error instanceof Error) return error.name === 'Error' ? OTHER : error.name;
  return OTHER;
}

/** Marks the span failed (status and `error.type`), following the conventions' "recording errors". */
export function markFailed(span: Span, errorType: string, message?: string): void {
  span.setAttribute(ATTR_ERROR_TYPE, errorType);
  span.setStatus(message === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message });
}

/** Marks the span failed with what `error` says about itself. */
export function markError(span: Span, error: unknown): void {
  markFailed(span, errorTypeOf(error), errorMessage(error));
}
