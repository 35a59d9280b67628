import uWS from 'uWebSockets.js';
import type { Config } from '../config/schema.js';
import { HttpError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { CORS_ALLOWED_HEADERS, CORS_MAX_AGE_S, OriginPolicy } from './origin-policy.js';
import { newConnectionState, type ClientConnection, type ConnectionState, type ProtocolHandler } from './protocol-handler.js';
import { SocketOutbox } from './socket-outbox.js';
import { createApp } from './tls.js';

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
  /** The client's address, as for chat sockets (per-IP limits, logs). */
  readonly ip: string;
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
  /** The client's address (the first `X-Forwarded-For` hop with `[server] trust_proxy`). */
  ip: string;
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

/** Frames gathered for one socket are written as soon as they reach this size, without waiting for the turn's end. */
const FLUSH_AT_BYTES = 16 * 1024;

/** Largest HTTP body accepted; webhooks carry one email's text. */
const MAX_HTTP_BODY_BYTES = 1024 * 1024;

interface SocketData {
  state: ConnectionState;
  closed: boolean;
  /** Set at `open`: everything sent to the socket goes through it. */
  outbox: SocketOutbox | undefined;
  topics: Set<string>;
  /** Frames handed over in this event-loop turn, written together (one syscall) by `flushWrites`. */
  pending: string[];
  pendingBytes: number;
}

interface ExtraSocketData {
  ip: string;
  connection: SocketConnection | undefined;
  closed: boolean;
}

/** The subprotocol a browser offers next to `bearer.<jwt>`; the server echoes it, never the token. */
export const WS_SUBPROTOCOL = 'ai-runtime';
const BEARER_PROTOCOL_PREFIX = 'bearer.';

/** Seconds a client refused by `[server] max_connections` is told to wait (`Retry-After`). */
const FULL_RETRY_AFTER_S = '5';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  202: '202 Accepted',
  204: '204 No Content',
  403: '403 Forbidden',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  404: '404 Not Found',
  413: '413 Payload Too Large',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

/** The subprotocols a client offered, and a bearer token among them (`bearer.<jwt>`), if any. */
function offeredProtocols(header: string): { echo: string; token: string | undefined } {
  const offered = header.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const bearer = offered.find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
  const others = offered.filter((p) => !p.startsWith(BEARER_PROTOCOL_PREFIX));
  return { echo: others.includes(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : (others[0] ?? ''), token: bearer?.slice(BEARER_PROTOCOL_PREFIX.length) };
}

/** The client's address: the socket's peer, or the first `X-Forwarded-For` hop behind a trusted proxy. */
function clientIp(res: uWS.HttpResponse, forwardedFor: string, trustProxy: boolean): string {
  const first = forwardedFor.split(',')[0]?.trim();
  if (trustProxy && first) return first;
  return Buffer.from(res.getRemoteAddressAsText()).toString('utf8');
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
  private readonly topics = new Map<string, Set<uWS.WebSocket<SocketData>>>();
  private readonly unflushed = new Set<uWS.WebSocket<SocketData>>();
  private flushScheduled = false;
  private readonly origins: OriginPolicy;
  private readonly extraSockets = new Set<SocketConnection>();
  port = 0;

  constructor(private readonly options: RuntimeServerOptions) {
    const { config, handler, logger } = options;
    this.origins = new OriginPolicy(config.allowed_origins);
    this.app = createApp(config);
    const softLimit = Math.floor(config.max_backpressure_bytes / 2);
    this.app.ws<SocketData>(config.websocket_path, {
      compression: uWS.DISABLED,
      maxPayloadLength: config.max_payload_bytes,
      idleTimeout: config.idle_timeout_s,
      sendPingsAutomatically: true,
      // Above our own hard limit, so uWS never drops a message on its own: the outbox decides (coalesce, then close).
      maxBackpressure: config.max_backpressure_bytes * 2,
      upgrade: (res, req, context) => {
        const origin = req.getHeader('origin');
        const host = req.getHeader('host');
        if (!this.origins.allows(origin, host)) {
          logger.warn({ origin }, 'WebSocket upgrade refused: origin not in [server] allowed_origins');
          res.writeStatus('403 Forbidden').writeHeader('Content-Type', 'application/json').end(JSON.stringify({ status: 'error', message: `Origin ${origin} is not allowed ([server] allowed_origins).` }));
          return;
        }
        if (this.sockets.size >= config.max_connections) {
          res.writeStatus('503 Service Unavailable').writeHeader('Retry-After', FULL_RETRY_AFTER_S).writeHeader('Content-Type', 'application/json').end(JSON.stringify({ status: 'error', message: 'This node is full ([server] max_connections); try again later.' }));
          return;
        }
        const { echo, token } = offeredProtocols(req.getHeader('sec-websocket-protocol'));
        const query = new URLSearchParams(req.getQuery() ?? '');
        const ip = clientIp(res, req.getHeader('x-forwarded-for'), config.trust_proxy);
        const upgradeToken = token ?? query.get('token') ?? undefined;
        res.upgrade<SocketData>(
          { state: newConnectionState(ip, upgradeToken), closed: false, outbox: undefined, topics: new Set(), pending: [], pendingBytes: 0 },
          req.getHeader('sec-websocket-key'),
          echo,
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      open: (ws) => {
        const data = ws.getUserData();
        data.outbox = new SocketOutbox(
          {
            send: (message) => this.queueWrite(ws, message),
            bufferedAmount: () => ws.getBufferedAmount() + data.pendingBytes,
            close: (code, reason) => {
              if (data.closed) return;
              logger.warn({ ip: data.state.ip, user: data.state.user?.email, code }, 'closing a socket that reads too slowly');
              // Its buffer is full: more frames would only push the close frame out of reach.
              data.pending = [];
              data.pendingBytes = 0;
              this.endSocket(ws, code, reason);
            },
          },
          softLimit,
          config.max_backpressure_bytes,
        );
        this.sockets.add(ws);
        handler.open(this.clientConnection(ws), data.state);
      },
      message: (ws, message) => {
        // The ArrayBuffer is only valid during this call: decode it now.
        const text = Buffer.from(message).toString('utf8');
        handler.receive(this.clientConnection(ws), ws.getUserData().state, text);
      },
      drain: (ws) => {
        ws.getUserData().outbox?.drain();
      },
      close: (ws, code) => {
        const data = ws.getUserData();
        data.closed = true;
        data.outbox?.discard();
        // A closed uWS socket must not be touched again, not even by the next flush.
        this.unflushed.delete(ws);
        data.pending = [];
        data.pendingBytes = 0;
        for (const topic of data.topics) this.unsubscribe(topic, ws);
        this.sockets.delete(ws);
        handler.closed(data.state);
        logger.debug({ code, user: data.state.user?.email }, 'socket closed');
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
        const ip = clientIp(res, headers['x-forwarded-for'] ?? '', config.trust_proxy);
        const cors = this.origins.corsHeaders(headers.origin ?? '', headers.host ?? '');
        const query = new URLSearchParams(req.getQuery() ?? '');
        const params = Array.from({ length: paramCount }, (_, i) => decodeURIComponent(req.getParameter(i) ?? ''));
        const respond = ({ status, body, contentType, headers: extra }: HttpResponse) => {
          if (aborted) return;
          aborted = true;
          res.cork(() => {
            res.writeStatus(STATUS_TEXT[status] ?? String(status)).writeHeader('Content-Type', contentType ?? 'application/json');
            for (const [name, value] of Object.entries({ ...cors, ...extra })) res.writeHeader(name, value);
            res.end(contentType ? (body as string | Buffer) : JSON.stringify(body));
          });
        };
        const run = (body: Buffer) =>
          route({ headers, ip, query, params, body })
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
        // Inspector feeds are small and operators few: uWS may close a stuck one (closeOnBackpressureLimit).
        maxBackpressure: config.max_backpressure_bytes,
        closeOnBackpressureLimit: 1,
        upgrade: (res, req, context) => {
          const origin = req.getHeader('origin');
          if (!this.origins.allows(origin, req.getHeader('host'))) {
            res.writeStatus('403 Forbidden').end(`Origin ${origin} is not allowed ([server] allowed_origins).`);
            return;
          }
          // Chosen as for the chat socket: uWS alone echoes the first offer, which may be a `bearer.<jwt>`.
          const { echo } = offeredProtocols(req.getHeader('sec-websocket-protocol'));
          const ip = clientIp(res, req.getHeader('x-forwarded-for'), config.trust_proxy);
          res.upgrade<ExtraSocketData>({ ip, connection: undefined, closed: false }, req.getHeader('sec-websocket-key'), echo, req.getHeader('sec-websocket-extensions'), context);
        },
        open: (ws) => {
          const data = ws.getUserData();
          data.connection = {
            id: nextSocketId++,
            ip: data.ip,
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
    this.app.options('/*', (res, req) => {
      const origin = req.getHeader('origin');
      const host = req.getHeader('host');
      if (origin === '' || !this.origins.allows(origin, host)) {
        res.writeStatus('403 Forbidden').end();
        return;
      }
      res
        .writeStatus('204 No Content')
        .writeHeader('Access-Control-Allow-Origin', origin)
        .writeHeader('Vary', 'Origin')
        .writeHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS')
        .writeHeader('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS)
        .writeHeader('Access-Control-Max-Age', CORS_MAX_AGE_S)
        .end();
    });
    this.app.any('/*', (res, req) => {
      const path = req.getUrl();
      res.writeStatus('404 Not Found').writeHeader('Content-Type', 'application/json').end(JSON.stringify({ status: 'error', message: `No route for ${path}` }));
    });
  }

  /** The protocol handler's view of a chat socket. */
  private clientConnection(ws: uWS.WebSocket<SocketData>): ClientConnection {
    const data = ws.getUserData();
    return {
      send: (message) => {
        if (!data.closed) data.outbox?.send(message);
      },
      subscribe: (topic) => {
        if (data.closed || data.topics.has(topic)) return;
        data.topics.add(topic);
        let subscribers = this.topics.get(topic);
        if (!subscribers) this.topics.set(topic, (subscribers = new Set()));
        subscribers.add(ws);
      },
      close: (code, reason) => this.endSocket(ws, code, reason),
    };
  }

  /** Writes what is still gathered for this socket (an error that explains the close, the last `done`), then ends it. */
  private endSocket(ws: uWS.WebSocket<SocketData>, code: number, reason: string): void {
    const data = ws.getUserData();
    if (data.closed) return;
    this.flushSocket(ws);
    data.closed = true;
    ws.end(code, reason);
  }

  /**
   * Sends outside uWS's own callbacks (tokens arrive from the Ollama HTTP stream) are not corked: each would be a
   * syscall. Frames are gathered per socket for the rest of this event-loop turn and written corked, as uWS's own
   * topic publish does.
   */
  private queueWrite(ws: uWS.WebSocket<SocketData>, message: string): void {
    const data = ws.getUserData();
    data.pending.push(message);
    data.pendingBytes += Buffer.byteLength(message, 'utf8');
    // A burst (big tokens, a long history) goes out at once: the socket's own buffer is what the outbox watches.
    if (data.pendingBytes >= FLUSH_AT_BYTES) return this.flushSocket(ws);
    this.unflushed.add(ws);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushWrites);
    }
  }

  private readonly flushWrites = (): void => {
    this.flushScheduled = false;
    for (const ws of this.unflushed) this.flushSocket(ws);
    this.unflushed.clear();
  };

  private flushSocket(ws: uWS.WebSocket<SocketData>): void {
    const data = ws.getUserData();
    const frames = data.pending;
    if (frames.length === 0 || data.closed) return;
    data.pending = [];
    data.pendingBytes = 0;
    ws.cork(() => frames.forEach((frame) => ws.send(frame, false)));
  }

  private unsubscribe(topic: string, ws: uWS.WebSocket<SocketData>): void {
    const subscribers = this.topics.get(topic);
    subscribers?.delete(ws);
    if (subscribers?.size === 0) this.topics.delete(topic);
  }

  /** Open chat sockets, signed in or not (the inspector's are not counted). */
  get chatConnections(): number {
    return this.sockets.size;
  }

  /** Chat topics are ours, not uWS's: each subscriber's outbox applies its own backpressure. */
  publish(topic: string, message: string): void {
    const subscribers = this.topics.get(topic);
    if (!subscribers) return;
    for (const ws of subscribers) {
      const data = ws.getUserData();
      if (!data.closed) data.outbox?.send(message);
    }
  }

  /** The scheme the server speaks: `https` with `[server] tls_cert_file`, else `http`. */
  get scheme(): 'http' | 'https' {
    return this.options.config.tls_cert_file ? 'https' : 'http';
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

  /** No new connections or requests; open sockets keep working. Safe to call twice. */
  stopListening(): void {
    if (!this.listenSocket) return;
    uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
  }

  /** Ends every socket, chat and extra, with `code` (1001: going away, so clients reconnect elsewhere). */
  closeSockets(code = 1001, reason = 'server shutting down'): void {
    for (const ws of [...this.sockets]) this.endSocket(ws, code, reason);
    for (const connection of [...this.extraSockets]) connection.close(code, reason);
  }

  /** Stops listening and closes every socket with 1001 (going away). Safe to call twice. */
  close(): void {
    this.stopListening();
    this.closeSockets();
  }
}
