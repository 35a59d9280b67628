import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import { HttpError } from '../errors.js';
import type { HttpRequest, HttpResponse, HttpRoute } from '../server/http-types.js';
import type { Tracing } from './setup-tracing.js';
import { markError } from './span-status.js';
import { extractTrace } from './trace-carrier.js';

/** HTTP server spans fail on 5xx only: a 4xx is the client's mistake, not the server's (the HTTP conventions). */
const SERVER_ERROR = 500;

function endServerSpan(span: Span, status: number, error?: unknown): void {
  span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  if (status >= SERVER_ERROR) {
    if (error === undefined) span.setStatus({ code: SpanStatusCode.ERROR });
    else markError(span, error);
  }
  span.end();
}

/**
 * A route whose requests are SERVER spans (`{method} {route}`), continuing the `traceparent` the caller sent, if any.
 * The handler gets the span's context, for the work it starts. With tracing off, the handler as it is.
 */
export function tracedRoute(tracing: Tracing, method: string, route: string, handler: (request: HttpRequest, trace: Context | undefined) => Promise<HttpResponse>): HttpRoute {
  if (!tracing.enabled) return (request) => handler(request, undefined);
  return async (request) => {
    const span = tracing.tracer.startSpan(
      `${method} ${route}`,
      { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_HTTP_ROUTE]: route } },
      extractTrace(request.headers),
    );
    try {
      const response = await handler(request, trace.setSpan(ROOT_CONTEXT, span));
      endServerSpan(span, response.status);
      return response;
    } catch (error) {
      // The edge answers an HttpError with its status, anything else with 500.
      endServerSpan(span, error instanceof HttpError ? error.status : SERVER_ERROR, error);
      throw error;
    }
  };
}
