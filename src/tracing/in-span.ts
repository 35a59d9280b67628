import { ROOT_CONTEXT, trace, type Context, type Span, type SpanOptions } from '@opentelemetry/api';
import type { Tracing } from './setup-tracing.js';
import { markError } from './span-status.js';

/** What work done inside a span sees: the span, and the context its own calls start their spans in. */
export interface SpanScope {
  /** Undefined with tracing off. */
  readonly span: Span | undefined;
  /** Undefined with tracing off. */
  readonly context: Context | undefined;
}

const OFF: SpanScope = { span: undefined, context: undefined };

/**
 * Runs `work` inside a span named `name` under `parent`: the span ends when the work settles, failed if it threw.
 * With tracing off the work runs as is, given an empty scope. (No context manager is installed, so the context is
 * handed over explicitly rather than found by the API.)
 */
export async function inSpan<T>(tracing: Tracing, name: string, options: SpanOptions, parent: Context | undefined, work: (scope: SpanScope) => Promise<T>): Promise<T> {
  if (!tracing.enabled) return work(OFF);
  const span = tracing.tracer.startSpan(name, options, parent);
  try {
    return await work({ span, context: trace.setSpan(parent ?? ROOT_CONTEXT, span) });
  } catch (error) {
    markError(span, error);
    throw error;
  } finally {
    span.end();
  }
}
