import uWS from 'uWebSockets.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { listenHost, listenPort } from '../net/loopback.js';
import { clientIp, forwardedFor, peerAddress } from './client-ip.js';
import { registerExtraSocket } from './extra-sockets.js';
import { registerHttpRoutes } from './http-routes.js';
import type { HttpRoute, SocketConnection, SocketHandler } from './http-types.js';
import { HostPolicy } from './host-policy.js';
import { OriginPolicy } from './origin-policy.js';
import { newConnectionState, type ClientConnection, type ConnectionState, type ProtocolHandler } from './protocol-handler.js';
import { EdgeGuard } from './safe-handler.js';
import { SocketOutbox } from './socket-outbox.js';
import { createApp } from './tls.js';
import { UpgradeRefusal, offeredProtocols, refuseUpgrade, type UpgradeGate } from './upgrade.js';

export type { HttpRequest, HttpResponse, HttpRoute, SocketConnection, SocketHandler } from './http-types.js';
export { WS_SUBPROTOCOL } from './upgrade.js';

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

/** Close code for a socket whose own set-up failed (RFC 6455 "internal error"): the client may reconnect. */
const INTERNAL_ERROR_CLOSE_CODE = 1011;

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

/**
 * The HTTP + WebSocket edge: the chat socket here, HTTP routes in `http-routes.ts`, extra sockets in
 * `extra-sockets.ts`. Every uWS callback goes through the `EdgeGuard`: no exception escapes into uWS.
 */
export class RuntimeServer {
  private readonly app: uWS.TemplatedApp;
  private listenSocket: uWS.us_listen_socket | undefined;
  private readonly sockets = new Set<uWS.WebSocket<SocketData>>();
  private readonly topics = new Map<string, Set<uWS.WebSocket<SocketData>>>();
  private readonly unflushed = new Set<uWS.WebSocket<SocketData>>();
  private flushScheduled = false;
  private readonly extraSockets = new Set<SocketConnection>();
  private readonly hosts: HostPolicy;
  port = 0;

  constructor(private readonly options: RuntimeServerOptions) {
    const { config } = options;
    this.hosts = new HostPolicy(config);
    const origins = new OriginPolicy(config.allowed_origins, this.hosts);
    const guard = new EdgeGuard(options.logger);
    // Every socket, chat or inspector, holds memory and a file descriptor: all count toward max_connections.
    const gate: UpgradeGate = { hosts: this.hosts, origins, full: () => this.sockets.size + this.extraSockets.size >= config.max_connections };
    this.app = createApp(config);
    this.registerChatSocket(guard, gate);
    let nextSocketId = 1;
    for (const [path, handler] of Object.entries(options.sockets ?? {})) {
      registerExtraSocket(this.app, path, handler, { config, gate, guard, connections: this.extraSockets, nextId: () => nextSocketId++ });
    }
    registerHttpRoutes(this.app, { routes: options.routes, hosts: this.hosts, origins, trustedHops: config.trust_proxy, guard });
  }

  private registerChatSocket(guard: EdgeGuard, gate: UpgradeGate): void {
    const { config, handler, logger } = this.options;
    const softLimit = Math.floor(config.max_backpressure_bytes / 2);
    const where = (callback: string) => `ws ${config.websocket_path} ${callback}`;
    const tell = (frame: string, ws: uWS.WebSocket<SocketData>) => this.clientConnection(ws).send(frame);
    this.app.ws<SocketData>(config.websocket_path, {
      compression: uWS.DISABLED,
      maxPayloadLength: config.max_payload_bytes,
      idleTimeout: config.idle_timeout_s,
      sendPingsAutomatically: true,
      // Above our own hard limit, so uWS never drops a message on its own: the outbox decides (coalesce, then close).
      maxBackpressure: config.max_backpressure_bytes * 2,
      upgrade: guard.http(where('upgrade'), (res, req: uWS.HttpRequest, context: uWS.us_socket_context_t) => {
        const refused = refuseUpgrade(res, req, gate);
        if (refused === UpgradeRefusal.Host) logger.warn({ host: req.getHeader('host') }, 'WebSocket upgrade refused: Host not ours (DNS rebinding?), see [server] allowed_hosts');
        if (refused === UpgradeRefusal.Origin) logger.warn({ origin: req.getHeader('origin') }, 'WebSocket upgrade refused: origin not in [server] allowed_origins');
        if (refused) return;
        const { echo, token } = offeredProtocols(req.getHeader('sec-websocket-protocol'));
        const query = new URLSearchParams(req.getQuery() ?? '');
        const ip = clientIp(peerAddress(res), forwardedFor(req), config.trust_proxy);
        const upgradeToken = token ?? query.get('token') ?? undefined;
        res.upgrade<SocketData>(
          { state: newConnectionState(ip, upgradeToken), closed: false, outbox: undefined, topics: new Set(), pending: [], pendingBytes: 0 },
          req.getHeader('sec-websocket-key'),
          echo,
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      }),
      open: guard.socket(
        where('open'),
        (ws: uWS.WebSocket<SocketData>) => {
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
        (frame, ws) => {
          tell(frame, ws);
          this.endSocket(ws, INTERNAL_ERROR_CLOSE_CODE, 'internal error');
        },
      ),
      message: guard.socket(
        where('message'),
        (ws: uWS.WebSocket<SocketData>, message: ArrayBuffer) => {
          // The ArrayBuffer is only valid during this call: decode it now.
          const text = Buffer.from(message).toString('utf8');
          handler.receive(this.clientConnection(ws), ws.getUserData().state, text);
        },
        tell,
      ),
      drain: guard.socket(where('drain'), (ws: uWS.WebSocket<SocketData>) => {
        ws.getUserData().outbox?.drain();
      }),
      close: guard.socket(where('close'), (ws: uWS.WebSocket<SocketData>, code: number) => {
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
      }),
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

  hasSubscribers(topic: string): boolean {
    return this.topics.has(topic);
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

  /** Writes the frames gathered for the topic's sockets now (corked, one write each), not at the end of the loop turn. */
  flush(topic: string): void {
    const subscribers = this.topics.get(topic);
    if (!subscribers) return;
    for (const ws of subscribers) this.flushSocket(ws);
  }

  /** The scheme the server speaks: `https` with `[server] tls_cert_file`, else `http`. */
  get scheme(): 'http' | 'https' {
    return this.options.config.tls_cert_file ? 'https' : 'http';
  }

  listen(): Promise<number> {
    const { listen_addr } = this.options.config;
    const [host, port] = [listenHost(listen_addr), listenPort(listen_addr)];
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${this.options.config.listen_addr} (port in use or address unavailable)`));
          return;
        }
        this.listenSocket = socket;
        this.port = uWS.us_socket_local_port(socket);
        this.hosts.bind(this.port);
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
