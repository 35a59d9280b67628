/** The edge's view of HTTP routes and extra WebSocket endpoints: what route and socket handlers see, free of uWS. */

export interface HttpResponse {
  status: number;
  /** Serialized as JSON, unless `contentType` is set: then a string or Buffer sent as is. */
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

/** A request copied out of uWS (whose `req` dies at the first `await`): lower-case headers and the whole body. */
export interface HttpRequest {
  headers: Record<string, string>;
  /**
   * A browser sent it from a page whose origin `[server] allowed_origins` (or the same-origin rule) does not allow.
   * Such a page cannot read the answer, but a route with side effects must still refuse it (CSRF).
   */
  foreignOrigin: boolean;
  /** The client's address: the socket's peer, or the `X-Forwarded-For` entry `[server] trust_proxy` hops from the right. */
  ip: string;
  query: URLSearchParams;
  /** Values of the route's `:name` segments, in order, percent-decoded. */
  params: string[];
  body: Buffer;
}

export type HttpRoute = (request: HttpRequest) => Promise<HttpResponse>;

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
