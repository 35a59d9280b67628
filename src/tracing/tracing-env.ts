import { z } from 'zod';
import { ConfigError } from '../errors.js';

/**
 * The standard `OTEL_*` environment variables this runtime reads, and nothing else of OpenTelemetry's: traces go to one
 * OTLP/HTTP endpoint, or nowhere. Read once at start-up; a bad value stops it with the variable named (a trace
 * pipeline that silently drops everything is found out only on the day it is needed).
 */

export const OtlpProtocol = { Protobuf: 'http/protobuf', Json: 'http/json' } as const;
export type OtlpProtocol = (typeof OtlpProtocol)[keyof typeof OtlpProtocol];

/** The runtime's name in traces when `OTEL_SERVICE_NAME` is not set. */
export const DEFAULT_SERVICE_NAME = 'ai-runtime';
/** The OTLP/HTTP path for traces, appended to `OTEL_EXPORTER_OTLP_ENDPOINT` (not to the traces-only endpoint). */
const TRACES_PATH = 'v1/traces';

/** The specification's booleans: `true` or `false`, in any case. Anything else is a typo worth hearing about. */
const envBoolean = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false'], { error: 'expected true or false' }))
  .transform((value) => value === 'true');

const protocol = z.enum([OtlpProtocol.Protobuf, OtlpProtocol.Json], { error: 'expected http/protobuf or http/json (gRPC is not supported)' });

const endpoint = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

/** `key=value,key2=value2`, values percent-encoded (the W3C Baggage format the specification uses for headers). */
const headerList = z.string().transform((text, ctx) => {
  const headers: Record<string, string> = {};
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const key = at > 0 ? pair.slice(0, at).trim() : '';
    if (key === '') {
      ctx.addIssue({ code: 'custom', message: `"${pair.trim()}" is not key=value` });
      return z.NEVER;
    }
    try {
      headers[key] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      ctx.addIssue({ code: 'custom', message: `the value of "${key}" is not percent-encoded correctly` });
      return z.NEVER;
    }
  }
  return headers;
});

/** The specification reads an empty variable as unset; so do we (a `KEY=` line in a unit file is common). */
const unsetIfEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

export const TracingEnvSchema = z.object({
  /** `true` turns every signal off, whatever else is set. @default false */
  OTEL_SDK_DISABLED: unsetIfEmpty(envBoolean),
  /** `otlp` or `none`. @default "otlp" */
  OTEL_TRACES_EXPORTER: unsetIfEmpty(z.enum(['otlp', 'none'], { error: 'expected otlp or none' })),
  /** The collector's base URL; traces go to `<endpoint>/v1/traces`. Unset (and no traces endpoint): no tracing at all. */
  OTEL_EXPORTER_OTLP_ENDPOINT: unsetIfEmpty(endpoint),
  /** The traces URL itself, used as given; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: unsetIfEmpty(endpoint),
  /** @default "http/protobuf" */
  OTEL_EXPORTER_OTLP_PROTOCOL: unsetIfEmpty(protocol),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: unsetIfEmpty(protocol),
  /** Sent with every export (an API key for a hosted backend). */
  OTEL_EXPORTER_OTLP_HEADERS: unsetIfEmpty(headerList),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: unsetIfEmpty(headerList),
  /** @default "ai-runtime" */
  OTEL_SERVICE_NAME: unsetIfEmpty(z.string().trim().min(1)),
  /** The GenAI conventions' opt-in: prompts, answers, tool arguments and results on spans. @default false */
  OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: unsetIfEmpty(envBoolean),
});

/** Where and how traces go, once the environment asked for them. */
export interface TracingSettings {
  /** The full traces URL (`…/v1/traces`). */
  url: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  serviceName: string;
  captureContent: boolean;
}

/** `<base>/v1/traces`, with exactly one slash between them whatever the base ends with. */
function tracesUrl(base: string): string {
  return `${base.endsWith('/') ? base : `${base}/`}${TRACES_PATH}`;
}

/**
 * The tracing settings the environment asks for, or `undefined` for none: no endpoint, `OTEL_SDK_DISABLED=true` or
 * `OTEL_TRACES_EXPORTER=none`. Throws a `ConfigError` naming each bad variable.
 */
export function readTracingEnv(env: Readonly<Record<string, string | undefined>>): TracingSettings | undefined {
  const parsed = TracingEnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new ConfigError(`bad OpenTelemetry setting: ${problems}`);
  }
  const vars = parsed.data;
  if (vars.OTEL_SDK_DISABLED === true || vars.OTEL_TRACES_EXPORTER === 'none') return undefined;
  const url = vars.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (vars.OTEL_EXPORTER_OTLP_ENDPOINT ? tracesUrl(vars.OTEL_EXPORTER_OTLP_ENDPOINT) : undefined);
  // Not the specification's localhost:4318 default: tracing is something a deployment asks for, never a surprise.
  if (!url) return undefined;
  return {
    url,
    protocol: vars.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? vars.OTEL_EXPORTER_OTLP_PROTOCOL ?? OtlpProtocol.Protobuf,
    headers: { ...vars.OTEL_EXPORTER_OTLP_HEADERS, ...vars.OTEL_EXPORTER_OTLP_TRACES_HEADERS },
    serviceName: vars.OTEL_SERVICE_NAME ?? DEFAULT_SERVICE_NAME,
    captureContent: vars.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT ?? false,
  };
}
