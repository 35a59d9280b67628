import { ROOT_CONTEXT, defaultTextMapGetter, defaultTextMapSetter, type Context } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { z } from 'zod';

/**
 * A trace's W3C Trace Context as it travels outside the process: in an MCP request's `params._meta`, in a summary
 * job's data, in a webhook's headers. Only these two keys, so that nothing else rides along by accident.
 */
export const TraceCarrierSchema = z.object({
  traceparent: z.string().max(256),
  tracestate: z.string().max(512).optional(),
});
export type TraceCarrier = z.infer<typeof TraceCarrierSchema>;

// Used directly, not through the API's global propagator: nothing here depends on what the process registered.
const propagator = new W3CTraceContextPropagator();

/** The carrier of the span `context` holds; undefined when it holds none (tracing off). */
export function injectTrace(context: Context | undefined): TraceCarrier | undefined {
  if (!context) return undefined;
  const carrier: Record<string, string> = {};
  propagator.inject(context, carrier, defaultTextMapSetter);
  return carrier.traceparent ? { traceparent: carrier.traceparent, ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}) } : undefined;
}

/** The remote parent a carrier names, to start a span under; the root context for a missing or malformed one. */
export function extractTrace(carrier: unknown): Context {
  const parsed = TraceCarrierSchema.safeParse(carrier);
  return parsed.success ? propagator.extract(ROOT_CONTEXT, parsed.data, defaultTextMapGetter) : ROOT_CONTEXT;
}
