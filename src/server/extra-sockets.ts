import uWS from 'uWebSockets.js';
import type { Config } from '../config/schema.js';
import { clientIp, forwardedFor, peerAddress } from './client-ip.js';
import type { SocketConnection, SocketHandler } from './http-types.js';
import type { EdgeGuard } from './safe-handler.js';
import { offeredProtocols, refuseUpgrade, type UpgradeGate } from './upgrade.js';

interface ExtraSocketData {
  ip: string;
  connection: SocketConnection | undefined;
  closed: boolean;
}

export interface ExtraSocketOptions {
  config: Config['server'];
  gate: UpgradeGate;
  guard: EdgeGuard;
  /** Every open extra socket: they count toward `[server] max_connections`, and shutdown closes them. */
  connections: Set<SocketConnection>;
  nextId: () => number;
}

/** An extra WebSocket endpoint (the inspector's feed): plain sends, uWS topics, no outbox. */
export function registerExtraSocket(app: uWS.TemplatedApp, path: string, handler: SocketHandler, options: ExtraSocketOptions): void {
  const { config, gate, guard, connections } = options;
  const where = (callback: string) => `ws ${path} ${callback}`;
  const tell = (frame: string, ws: uWS.WebSocket<ExtraSocketData>) => ws.getUserData().connection?.send(frame);
  app.ws<ExtraSocketData>(path, {
    compression: uWS.DISABLED,
    maxPayloadLength: config.max_payload_bytes,
    idleTimeout: config.idle_timeout_s,
    sendPingsAutomatically: true,
    // Inspector feeds are small and operators few: uWS may close a stuck one (closeOnBackpressureLimit).
    maxBackpressure: config.max_backpressure_bytes,
    closeOnBackpressureLimit: 1,
    upgrade: guard.http(where('upgrade'), (res, req: uWS.HttpRequest, context: uWS.us_socket_context_t) => {
      if (refuseUpgrade(res, req, gate)) return;
      const { echo } = offeredProtocols(req.getHeader('sec-websocket-protocol'));
      const ip = clientIp(peerAddress(res), forwardedFor(req), config.trust_proxy);
      res.upgrade<ExtraSocketData>({ ip, connection: undefined, closed: false }, req.getHeader('sec-websocket-key'), echo, req.getHeader('sec-websocket-extensions'), context);
    }),
    open: guard.socket(where('open'), (ws: uWS.WebSocket<ExtraSocketData>) => {
      const data = ws.getUserData();
      data.connection = {
        id: options.nextId(),
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
      connections.add(data.connection);
      handler.open?.(data.connection);
    }, tell),
    message: guard.socket(where('message'), (ws: uWS.WebSocket<ExtraSocketData>, message: ArrayBuffer) => {
      const data = ws.getUserData();
      // The ArrayBuffer is only valid during this call: decode it now.
      if (data.connection) handler.message(data.connection, Buffer.from(message).toString('utf8'));
    }, tell),
    close: guard.socket(where('close'), (ws: uWS.WebSocket<ExtraSocketData>) => {
      const data = ws.getUserData();
      data.closed = true;
      if (!data.connection) return;
      connections.delete(data.connection);
      handler.close?.(data.connection);
    }),
  });
}
