import type { IncomingHttpHeaders } from 'node:http';

/** Names every client on this machine may use for a loopback listener, whatever address it is bound to. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'] as const;

/** Who may talk to the mail HTTP server: exact `Host` values, and the browser origins that go with them. */
export interface AllowedHosts {
  readonly hosts: readonly string[];
  readonly origins: readonly string[];
}

/** `::1` → `[::1]`: the form a `Host` header carries. */
function hostForHeader(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * The listen address itself and the loopback names on its port, plus `extra` (exact `Host` values such as
 * `mail.internal:8090`, for a server reached through a name or a proxy). A DNS-rebinding page reaches a loopback
 * server under its own name (`evil.example:8090`), which is on no list.
 */
export function allowedHostsFor(listenHost: string, port: number, extra: readonly string[] = []): AllowedHosts {
  const hosts = new Set([hostForHeader(listenHost), ...LOOPBACK_NAMES].map((host) => `${host.toLowerCase()}:${port}`));
  for (const host of extra) hosts.add(host.trim().toLowerCase());
  const list = [...hosts];
  return { hosts: list, origins: list.flatMap((host) => [`http://${host}`, `https://${host}`]) };
}

/**
 * Why a request must be refused, or undefined when its `Host` is ours and its `Origin` (sent by browsers only) is one
 * of ours. Server-side MCP clients, the runtime among them, send no `Origin`.
 */
export function hostRefusal(headers: IncomingHttpHeaders, allowed: AllowedHosts): string | undefined {
  const host = headers.host?.toLowerCase();
  if (!host || !allowed.hosts.includes(host)) return `Host ${JSON.stringify(headers.host ?? '')} is not allowed ([mail] allowed_hosts)`;
  const origin = headers.origin?.toLowerCase();
  if (origin !== undefined && !allowed.origins.includes(origin)) return `Origin ${JSON.stringify(headers.origin)} is not allowed`;
  return undefined;
}
