import { DiagLogLevel, diag, trace, type DiagLogger, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Logger } from '../logger.js';
import { OtlpProtocol, readTracingEnv, type TracingSettings } from './tracing-env.js';
import { settleWithin } from '../settle-within.js';

/** What instrumented code holds: a tracer, whether to record content, and the way to flush what is buffered. */
export interface Tracing {
  /** False when no exporter is configured: instrumented code then skips its span work entirely. */
  readonly enabled: boolean;
  readonly tracer: Tracer;
  /** Prompts, answers, tool arguments and results go on spans (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`). */
  readonly captureContent: boolean;
  /** One line for the start-up log: where traces go, or that they are off. */
  readonly summary: string;
  /** Exports what is buffered, then stops the provider and unregisters it. Safe to call twice. */
  shutdown(): Promise<void>;
}

/** The instrumentation's name and version on every span (the "scope"). */
export const INSTRUMENTATION_NAME = 'ai-runtime';
const INSTRUMENTATION_VERSION = '0.1.0';

/** Tracing off: the API's no-op tracer, and no provider at all, registered or not. */
export const TRACING_OFF: Tracing = {
  enabled: false,
  tracer: trace.getTracer(INSTRUMENTATION_NAME),
  captureContent: false,
  summary: 'traces: off (no OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_SDK_DISABLED=true)',
  shutdown: () => Promise.resolve(),
};

/** The SDK's own complaints (an export that failed, a full queue), as warnings in our log instead of nowhere. */
function diagnosticsTo(logger: Logger): DiagLogger {
  const warn = (message: string, ...args: unknown[]) => logger.warn({ otel: args.length ? args.map(String) : undefined }, `OpenTelemetry: ${message}`);
  const ignore = () => undefined;
  return { error: warn, warn, info: ignore, debug: ignore, verbose: ignore };
}

/** The last spans get this long to leave at shutdown; a collector that does not take them by then loses them. */
const SHUTDOWN_FLUSH_MS = 2_000;

/** The URL without any user and password it may carry, for the log. */
function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return url;
  parsed.username = '***';
  parsed.password = '';
  return parsed.toString();
}

function exporterFor(settings: TracingSettings) {
  const config = { url: settings.url, headers: settings.headers };
  return settings.protocol === OtlpProtocol.Json ? new OtlpJsonExporter(config) : new OtlpProtobufExporter(config);
}

/**
 * Tracing as the `OTEL_*` variables of `env` ask for it (see `readTracingEnv`), or `TRACING_OFF`. Takes the
 * environment as an argument, not from `process.env`, so a test can run its own without touching the process's.
 * An enabled provider is also registered as the global one (`@opentelemetry/api`), for any library that traces
 * through the API, unless another is registered already.
 */
export function setupTracing(env: Readonly<Record<string, string | undefined>>, logger?: Logger): Tracing {
  const settings = readTracingEnv(env);
  if (!settings) return TRACING_OFF;
  if (logger) diag.setLogger(diagnosticsTo(logger), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName, [ATTR_SERVICE_VERSION]: INSTRUMENTATION_VERSION }),
    // Batched: a span costs an array push on the hot path, and the export happens off it.
    spanProcessors: [new BatchSpanProcessor(exporterFor(settings))],
  });
  const registered = trace.setGlobalTracerProvider(provider);
  let closing: Promise<void> | undefined;
  return {
    enabled: true,
    tracer: provider.getTracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION),
    captureContent: settings.captureContent,
    summary: `traces: to ${withoutCredentials(settings.url)} (${settings.protocol}) as service ${settings.serviceName}; message content ${settings.captureContent ? 'CAPTURED' : 'not captured'}`,
    shutdown() {
      // Bounded: with the collector down the exporter's retries would hold the process's exit for ~8 s.
      closing ??= settleWithin(provider.shutdown(), SHUTDOWN_FLUSH_MS).then(() => {
        if (registered) trace.disable();
        if (logger) diag.disable();
      });
      return closing;
    },
  };
}
