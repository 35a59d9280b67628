/**
 * An OTLP/HTTP collector for tests: a plain `node:http` server on a free port that takes `POST /v1/traces` in either
 * encoding the exporters speak (`application/x-protobuf`, `application/json`), decodes every span, and keeps them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { decodeJsonTraces, decodeProtobufTraces, type DecodedSpan } from './otlp-decode.js';

const TRACES_PATH = '/v1/traces';

export class OtlpReceiver {
  readonly spans: DecodedSpan[] = [];
  /** The `Content-Type` of each export request, in order. */
  readonly contentTypes: string[] = [];
  /** The headers of each export request, in order. */
  readonly headers: IncomingMessage['headers'][] = [];
  private readonly sockets = new Set<Socket>();
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<OtlpReceiver> {
    let receiver: OtlpReceiver | undefined;
    const server = createServer((req, res) => {
      receiver!.handle(req, res).catch((error: unknown) => {
        res.writeHead(400, { 'Content-Type': 'text/plain' });
        res.end(String(error));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    receiver = new OtlpReceiver(server, (server.address() as AddressInfo).port);
    server.on('connection', (socket) => {
      receiver!.sockets.add(socket);
      socket.on('close', () => receiver!.sockets.delete(socket));
    });
    return receiver;
  }

  /** The base URL, for `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter appends `/v1/traces`). */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Resolves once a span that `matches` has arrived. */
  async waitFor(matches: (span: DecodedSpan) => boolean, timeoutMs = 5_000): Promise<DecodedSpan> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.spans.find(matches);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching span within ${timeoutMs} ms; got: ${this.spans.map((s) => s.name).join(', ') || 'none'}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || req.url !== TRACES_PATH) {
      res.writeHead(404).end();
      return;
    }
    const raw = Buffer.concat(chunks);
    const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
    const contentType = req.headers['content-type'] ?? '';
    this.contentTypes.push(contentType);
    this.headers.push(req.headers);
    const json = contentType.startsWith('application/json');
    this.spans.push(...(json ? decodeJsonTraces(body) : decodeProtobufTraces(body)));
    // An empty ExportTraceServiceResponse: full success.
    res.writeHead(200, { 'Content-Type': json ? 'application/json' : 'application/x-protobuf' });
    res.end(json ? '{}' : undefined);
    for (const wake of this.waiters.splice(0)) wake();
  }
}

/** The spans of one trace as a tree, by name, for readable assertions: `invoke_agent x > chat m`. */
export function spanTree(spans: readonly DecodedSpan[], traceId: string): string[] {
  const inTrace = spans.filter((s) => s.traceId === traceId);
  const byId = new Map(inTrace.map((s) => [s.spanId, s]));
  const path = (span: DecodedSpan): string => {
    const parent = span.parentSpanId ? byId.get(span.parentSpanId) : undefined;
    return parent ? `${path(parent)} > ${span.name}` : span.name;
  };
  return inTrace.map(path).sort();
}
