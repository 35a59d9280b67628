/**
 * OTLP trace export requests, decoded into one flat shape whichever encoding carried them: `http/json` is parsed as
 * JSON, `http/protobuf` with the exporter package's own protobuf reader (`ProtobufReader` of
 * `@opentelemetry/otlp-transformer`, the reverse of the writer the exporter serializes with) walking the
 * `ExportTraceServiceRequest` message of opentelemetry-proto field by field.
 */
import { ProtobufReader } from '@opentelemetry/otlp-transformer/build/src/common/protobuf/protobuf-reader.js';

export interface DecodedSpan {
  traceId: string;
  spanId: string;
  /** Undefined for a root span. */
  parentSpanId: string | undefined;
  name: string;
  /** When the span started, in nanoseconds since the epoch. */
  startNanos: bigint;
  /** The proto enum: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  /** 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  resource: Record<string, unknown>;
  scope: string;
}

export const SpanKindCode = { Internal: 1, Server: 2, Client: 3, Producer: 4, Consumer: 5 } as const;
export const StatusCode = { Unset: 0, Ok: 1, Error: 2 } as const;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Each field of one message: `visit(fieldNumber, wireType, reader)` must consume the value or return false to skip it. */
function eachField(bytes: Uint8Array, visit: (field: number, wire: number, reader: ProtobufReader) => boolean): void {
  const reader = new ProtobufReader(bytes);
  while (!reader.isAtEnd()) {
    const { fieldNumber, wireType } = reader.readTag();
    if (!visit(fieldNumber, wireType, reader)) reader.skip(wireType);
  }
}

/** A fixed64 double, read from the bytes the reader is positioned on (the reader has no method of its own for it). */
function readDouble(bytes: Uint8Array, reader: ProtobufReader): number {
  const value = new DataView(bytes.buffer, bytes.byteOffset + reader.pos, 8).getFloat64(0, true);
  reader.skip(WIRE_FIXED64);
  return value;
}

function readFixed64(bytes: Uint8Array, reader: ProtobufReader): bigint {
  const value = new DataView(bytes.buffer, bytes.byteOffset + reader.pos, 8).getBigUint64(0, true);
  reader.skip(WIRE_FIXED64);
  return value;
}

// AnyValue: 1 string, 2 bool, 3 int64, 4 double, 5 ArrayValue { 1 repeated AnyValue }, 7 bytes.
function decodeAnyValue(bytes: Uint8Array): unknown {
  let value: unknown;
  eachField(bytes, (field, wire, reader) => {
    if (field === 1 && wire === WIRE_LENGTH) value = reader.readString();
    else if (field === 2 && wire === WIRE_VARINT) value = reader.readVarint() !== 0;
    else if (field === 3 && wire === WIRE_VARINT) value = reader.readVarint();
    else if (field === 4 && wire === WIRE_FIXED64) value = readDouble(bytes, reader);
    else if (field === 5 && wire === WIRE_LENGTH) {
      const values: unknown[] = [];
      eachField(reader.readBytes(), (f, w, r) => (f === 1 && w === WIRE_LENGTH ? (values.push(decodeAnyValue(r.readBytes())), true) : false));
      value = values;
    } else if (field === 7 && wire === WIRE_LENGTH) value = reader.readBytes();
    else return false;
    return true;
  });
  return value;
}

// KeyValue: 1 key, 2 value.
function decodeKeyValue(bytes: Uint8Array, into: Record<string, unknown>): void {
  let key = '';
  let value: unknown;
  eachField(bytes, (field, wire, reader) => {
    if (field === 1 && wire === WIRE_LENGTH) key = reader.readString();
    else if (field === 2 && wire === WIRE_LENGTH) value = decodeAnyValue(reader.readBytes());
    else return false;
    return true;
  });
  into[key] = value;
}

// Span: 1 trace_id, 2 span_id, 4 parent_span_id, 5 name, 6 kind, 7 start_time_unix_nano, 9 attributes, 11 events, 15 status.
function decodeSpan(bytes: Uint8Array, resource: Record<string, unknown>, scope: string): DecodedSpan {
  const span: DecodedSpan = { traceId: '', spanId: '', parentSpanId: undefined, name: '', startNanos: 0n, kind: 0, attributes: {}, events: [], status: { code: 0, message: '' }, resource, scope };
  eachField(bytes, (field, wire, reader) => {
    if (wire === WIRE_LENGTH && field === 1) span.traceId = hex(reader.readBytes());
    else if (wire === WIRE_LENGTH && field === 2) span.spanId = hex(reader.readBytes());
    else if (wire === WIRE_LENGTH && field === 4) {
      const parent = reader.readBytes();
      span.parentSpanId = parent.length > 0 ? hex(parent) : undefined;
    } else if (wire === WIRE_LENGTH && field === 5) span.name = reader.readString();
    else if (wire === WIRE_FIXED64 && field === 7) span.startNanos = readFixed64(bytes, reader);
    else if (wire === WIRE_VARINT && field === 6) span.kind = reader.readVarint();
    else if (wire === WIRE_LENGTH && field === 9) decodeKeyValue(reader.readBytes(), span.attributes);
    else if (wire === WIRE_LENGTH && field === 11) {
      // Event: 2 name, 3 attributes.
      const event = { name: '', attributes: {} as Record<string, unknown> };
      eachField(reader.readBytes(), (f, w, r) => {
        if (f === 2 && w === WIRE_LENGTH) event.name = r.readString();
        else if (f === 3 && w === WIRE_LENGTH) decodeKeyValue(r.readBytes(), event.attributes);
        else return false;
        return true;
      });
      span.events.push(event);
    } else if (wire === WIRE_LENGTH && field === 15) {
      // Status: 2 message, 3 code.
      eachField(reader.readBytes(), (f, w, r) => {
        if (f === 2 && w === WIRE_LENGTH) span.status.message = r.readString();
        else if (f === 3 && w === WIRE_VARINT) span.status.code = r.readVarint();
        else return false;
        return true;
      });
    } else return false;
    return true;
  });
  return span;
}

/** `ExportTraceServiceRequest`: 1 repeated ResourceSpans { 1 resource { 1 attributes }, 2 repeated ScopeSpans { 1 scope { 1 name }, 2 spans } }. */
export function decodeProtobufTraces(body: Uint8Array): DecodedSpan[] {
  const spans: DecodedSpan[] = [];
  eachField(body, (field, wire, reader) => {
    if (field !== 1 || wire !== WIRE_LENGTH) return false;
    const resourceSpans = reader.readBytes();
    const resource: Record<string, unknown> = {};
    const scopes: Uint8Array[] = [];
    eachField(resourceSpans, (f, w, r) => {
      if (f === 1 && w === WIRE_LENGTH) eachField(r.readBytes(), (ff, ww, rr) => (ff === 1 && ww === WIRE_LENGTH ? (decodeKeyValue(rr.readBytes(), resource), true) : false));
      else if (f === 2 && w === WIRE_LENGTH) scopes.push(r.readBytes());
      else return false;
      return true;
    });
    for (const scopeSpans of scopes) {
      let scope = '';
      const spanBytes: Uint8Array[] = [];
      eachField(scopeSpans, (f, w, r) => {
        if (f === 1 && w === WIRE_LENGTH) eachField(r.readBytes(), (ff, ww, rr) => (ff === 1 && ww === WIRE_LENGTH ? ((scope = rr.readString()), true) : false));
        else if (f === 2 && w === WIRE_LENGTH) spanBytes.push(r.readBytes());
        else return false;
        return true;
      });
      for (const bytes of spanBytes) spans.push(decodeSpan(bytes, resource, scope));
    }
    return true;
  });
  return spans;
}

interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: JsonAnyValue[] };
}
type JsonKeyValue = { key: string; value: JsonAnyValue };

function jsonValue(value: JsonAnyValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(jsonValue);
  return undefined;
}

const jsonAttributes = (list: JsonKeyValue[] | undefined): Record<string, unknown> => Object.fromEntries((list ?? []).map((kv) => [kv.key, jsonValue(kv.value)]));

/** The OTLP/JSON mapping: ids as hex strings, enums as numbers, 64-bit integers as numbers or strings. */
export function decodeJsonTraces(body: Uint8Array): DecodedSpan[] {
  const request = JSON.parse(Buffer.from(body).toString('utf8')) as {
    resourceSpans?: Array<{
      resource?: { attributes?: JsonKeyValue[] };
      scopeSpans?: Array<{
        scope?: { name?: string };
        spans?: Array<{
          traceId: string;
          spanId: string;
          parentSpanId?: string;
          name: string;
          kind: number;
          startTimeUnixNano: string | number;
          attributes?: JsonKeyValue[];
          events?: Array<{ name: string; attributes?: JsonKeyValue[] }>;
          status?: { code?: number; message?: string };
        }>;
      }>;
    }>;
  };
  return (request.resourceSpans ?? []).flatMap((rs) => {
    const resource = jsonAttributes(rs.resource?.attributes);
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((span) => ({
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId ? span.parentSpanId : undefined,
        name: span.name,
        startNanos: BigInt(span.startTimeUnixNano),
        kind: span.kind,
        attributes: jsonAttributes(span.attributes),
        events: (span.events ?? []).map((e) => ({ name: e.name, attributes: jsonAttributes(e.attributes) })),
        status: { code: span.status?.code ?? 0, message: span.status?.message ?? '' },
        resource,
        scope: ss.scope?.name ?? '',
      })),
    );
  });
}
