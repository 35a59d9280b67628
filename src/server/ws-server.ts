import uWS from 'uWebSockets.js';
import type { Config } from '../config/schema.js';
import { HttpError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { newConnectionState, type ConnectionState, type ProtocolHandler } from './protocol-handler.js';

export interface HttpResponse {
  status: number;
  /** Serialized as JSON, unless `contentType` is set: then a string or Buffer sent as is. */
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

/** A socket of an extra WebSocket endpoint (the inspector's), as its handler sees it. */
export interface SocketConnection {
  readonly id: number;
  send(message: string): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  close(code?: number, reason?: string): void;
}

export interface SocketHandler {
  open?(connection: SocketConnection): void;
  message(connection: SocketConnection, text: string): void;
  close?(connection: SocketConnection): void;
}

/** A request copied out of uWS (whose `req` dies at the first `await`): lower-case headers and the whole body. */
export interface HttpRequest {
  headers: Record<string, string>;
  query: URLSearchParams;
  /** Values of the route's `:name` segments, in order. */
  params: string[];
  body: Buffer;
}

export type HttpRoute = (request: HttpRequest) => Promise<HttpResponse>;

export interface RuntimeServerOptions {
  config: Config['server'];
  handler: ProtocolHandler;
  /** JSON routes keyed by `"METHOD /path"`, e.g. `"GET /health"`. */
  routes: Record<string, HttpRoute>;
  /** More WebSocket endpoints by path, e.g. the inspector's feed. */
  sockets?: Record<string, SocketHandler>;
  logger: Logger;
}

/** Largest HTTP body accepted; webhooks carry one email's text. */
const MAX_HTTP_BODY_BYTES = 1024 * 1024;

interface SocketData {
  state: ConnectionState;
  closed: boolean;
}

interface ExtraSocketData {
  connection: SocketConnection | undefined;
  closed: boolean;
}

/** uWS drops a socket's outgoing data past this many bytes instead of buffering without bound. */
const MAX_BACKPRESSURE_BYTES = 4 * 1024 * 1024;

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  202: '202 Accepted',
  403: '403 Forbidden',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  404: '404 Not Found',
  413: '413 Payload Too Large',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

/** Accepts every upgrade with fresh per-socket data (authentication happens in the first message). */
function upgradeWith<T>(userData: () => T) {
  return (res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t) => {
    res.upgrade<T>(userData(), req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
  };
}

function parseListenAddr(listenAddr: string): { host: string; port: number } {
  const at = listenAddr.lastIndexOf(':');
  return { host: listenAddr.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(listenAddr.slice(at + 1)) };
}

/** The HTTP + WebSocket edge. Everything uWS-specific lives here. */
export class RuntimeServer {
  private readonly app: uWS.TemplatedApp;
  private listenSocket: uWS.us_listen_socket | undefined;
  private readonly sockets = new Set<uWS.WebSocket<SocketData>>();
  private readonly extraSockets = new Set<SocketConnection>();
  port = 0;

  constructor(private readonly options: RuntimeServerOptions) {
    const { config, handler, logger } = options;
    this.app = uWS.App();
    this.app.ws<SocketData>(config.websocket_path, {
      compression: uWS.DISABLED,
      maxPayloadLength: config.max_payload_bytes,
      idleTimeout: config.idle_timeout_s,
      sendPingsAutomatically: true,
      maxBackpressure: MAX_BACKPRESSURE_BYTES,
      upgrade: upgradeWith(() => ({ state: newConnectionState(), closed: false })),
      open: (ws) => {
        this.sockets.add(ws);
      },
      message: (ws, message) => {
        // The ArrayBuffer is only valid during this call: decode it now.
        const text = Buffer.from(message).toString('utf8');
        const data = ws.getUserData();
        handler.receive(
          {
            send: (payload) => {
              if (!data.closed) ws.send(payload, false);
            },
            subscribe: (topic) => {
              if (!data.closed) ws.subscribe(topic);
            },
          },
          data.state,
          text,
        );
      },
      close: (ws, code) => {
        ws.getUserData().closed = true;
        this.sockets.delete(ws);
        logger.debug({ code }, 'socket closed');
      },
    });
    for (const [key, route] of Object.entries(options.routes)) {
      const [method, path] = key.split(' ') as [string, string];
      const register = method === 'POST' ? this.app.post.bind(this.app) : this.app.get.bind(this.app);
      const paramCount = path.split('/').filter((segment) => segment.startsWith(':')).length;
      register(path, (res, req) => {
        let aborted = false;
        res.onAborted(() => {
          aborted = true;
        });
        const headers: Record<string, string> = {};
        req.forEach((name, value) => {
          headers[name] = value;
        });
        const query = new URLSearchParams(req.getQuery() ?? '');
        const params = Array.from({ length: paramCount }, (_, i) => decodeURIComponent(req.getParameter(i) ?? ''));
        const respond = ({ status, body, contentType, headers: extra }: HttpResponse) => {
          if (aborted) return;
          aborted = true;
          res.cork(() => {
            res.writeStatus(STATUS_TEXT[status] ?? String(status)).writeHeader('Content-Type', contentType ?? 'application/json');
            for (const [name, value] of Object.entries(extra ?? {})) res.writeHeader(name, value);
            res.end(contentType ? (body as string | Buffer) : JSON.stringify(body));
          });
        };
        const run = (body: Buffer) =>
          route({ headers, query, params, body })
            .catch((error: unknown): HttpResponse => {
              if (error instanceof HttpError) return { status: error.status, body: { status: 'error', message: error.message } };
              logger.error({ err: errorMessage(error), route: key }, 'HTTP route failed');
              return { status: 500, body: { status: 'error', message: 'Internal error' } };
            })
            .then(respond);
        if (method !== 'POST') return void run(Buffer.alloc(0));
        const chunks: Buffer[] = [];
        let size = 0;
        res.onData((chunk, isLast) => {
          if (aborted) return;
          size += chunk.byteLength;
          if (size > MAX_HTTP_BODY_BYTES) {
            respond({ status: 413, body: { status: 'error', message: `Body over ${MAX_HTTP_BODY_BYTES} bytes` } });
            return;
          }
          // uWS reuses the chunk's memory after this call: copy it.
          chunks.push(Buffer.from(chunk.slice(0)));
          if (isLast) void run(Buffer.concat(chunks));
        });
      });
    }
    let nextSocketId = 1;
    for (const [path, handler] of Object.entries(options.sockets ?? {})) {
      this.app.ws<ExtraSocketData>(path, {
        compression: uWS.DISABLED,
        maxPayloadLength: config.max_payload_bytes,
        idleTimeout: config.idle_timeout_s,
        sendPingsAutomatically: true,
        maxBackpressure: MAX_BACKPRESSURE_BYTES,
        upgrade: upgradeWith<ExtraSocketData>(() => ({ connection: undefined, closed: false })),
        open: (ws) => {
          const data = ws.getUserData();
          data.connection = {
            id: nextSocketId++,
            send: (message) => {
              if (!data.closed) ws.send(message, false);
            },
            subscribe: (topic) => {
              if (!data.closed) ws.subscribe(topic);
            },
            unsubscribe: (topic) => {
              if (!data.closed) ws.unsubscribe(topic);
            },
            close: (code = 1000, reason = '') => {
              if (data.closed) return;
              data.closed = true;
              ws.end(code, reason);
            },
          };
          this.extraSockets.add(data.connection);
          handler.open?.(data.connection);
        },
        message: (ws, message) => {
          const data = ws.getUserData();
          if (data.connection) handler.message(data.connection, Buffer.from(message).toString('utf8'));
        },
        close: (ws) => {
          const data = ws.getUserData();
          data.closed = true;
          if (data.connection) {
            this.extraSockets.delete(data.connection);
            handler.close?.(data.connection);
          }
        },
      });
    }
    this.app.any('/*', (res, req) => {
      const path = req.getUrl();
      res.writeStatus('404 Not Found').writeHeader('Content-Type', 'application/json').end(JSON.stringify({ status: 'error', message: `No route for ${path}` }));
    });
  }

  /** Open chat sockets, signed in or not (the inspector's are not counted). */
  get chatConnections(): number {
    return this.sockets.size;
  }

  publish(topic: string, message: string): void {
    this.app.publish(topic, message, false);
  }

  listen(): Promise<number> {
    const { host, port } = parseListenAddr(this.options.config.listen_addr);
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${this.options.config.listen_addr} (port in use or address unavailable)`));
          return;
        }
        this.listenSocket = socket;
        this.port = uWS.us_socket_local_port(socket);
        resolve(this.port);
      });
    });
  }

  /** Stops listening and closes every socket with 1001 (going away). Safe to call twice. */
  close(): void {
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
    }
    for (const ws of this.sockets) {
      const data = ws.getUserData();
      if (data.closed) continue;
      data.closed = true;
      ws.end(1001, 'server shutting down');
    }
    this.sockets.clear();
    for (const connection of this.extraSockets) connection.close(1001, 'server shutting down');
    this.extraSockets.clear();
  }
}
