import type uWS from 'uWebSockets.js';
import { errorBody, statusLine } from './http-status.js';
import type { HostPolicy } from './host-policy.js';
import type { OriginPolicy } from './origin-policy.js';

/** The subprotocol a browser offers next to `bearer.<jwt>`; the server echoes it, never the token. */
export const WS_SUBPROTOCOL = 'ai-runtime';
const BEARER_PROTOCOL_PREFIX = 'bearer.';

/** Seconds a client refused by `[server] max_connections` is told to wait (`Retry-After`). */
const FULL_RETRY_AFTER_S = '5';

/**
 * The subprotocol to echo and a bearer token among the offers (`bearer.<jwt>`), if any. uWS alone would echo the
 * first offer, which may be the token.
 */
export function offeredProtocols(header: string): { echo: string; token: string | undefined } {
  const offered = header.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const bearer = offered.find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
  const others = offered.filter((p) => !p.startsWith(BEARER_PROTOCOL_PREFIX));
  return { echo: others.includes(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : (others[0] ?? ''), token: bearer?.slice(BEARER_PROTOCOL_PREFIX.length) };
}

export interface UpgradeGate {
  hosts: HostPolicy;
  origins: OriginPolicy;
  /** True when the node holds `[server] max_connections` sockets, chat and extra ones together. */
  full: () => boolean;
}

/** Why an upgrade was refused. */
export const UpgradeRefusal = {
  /** 403: a `Host` not ours, as a DNS-rebinding page sends. */
  Host: 'host',
  /** 403: a page elsewhere may not use a visitor's session (cross-site WebSocket hijacking). */
  Origin: 'origin',
  /** 503 with `Retry-After`: the node holds `[server] max_connections` sockets. */
  Full: 'full',
} as const;
export type UpgradeRefusal = (typeof UpgradeRefusal)[keyof typeof UpgradeRefusal];

/**
 * Answers an upgrade that may not go on, and says why; `undefined` lets it through. Reads `req` synchronously: it is
 * only valid during the upgrade call.
 */
export function refuseUpgrade(res: uWS.HttpResponse, req: uWS.HttpRequest, gate: UpgradeGate): UpgradeRefusal | undefined {
  const host = req.getHeader('host');
  if (!gate.hosts.allows(host)) {
    res.writeStatus(statusLine(403)).writeHeader('Content-Type', 'application/json').end(errorBody(gate.hosts.refusal(host)));
    return UpgradeRefusal.Host;
  }
  const origin = req.getHeader('origin');
  if (!gate.origins.allows(origin, host)) {
    res.writeStatus(statusLine(403)).writeHeader('Content-Type', 'application/json').end(errorBody(`Origin ${origin} is not allowed ([server] allowed_origins).`));
    return UpgradeRefusal.Origin;
  }
  if (gate.full()) {
    res
      .writeStatus(statusLine(503))
      .writeHeader('Retry-After', FULL_RETRY_AFTER_S)
      .writeHeader('Content-Type', 'application/json')
      .end(errorBody('This node is full ([server] max_connections); try again later.'));
    return UpgradeRefusal.Full;
  }
  return undefined;
}
