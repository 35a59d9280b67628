/**
 * `Host` allow-lists against DNS rebinding, shared by the runtime's edge and the mail HTTP server. A page at
 * `http://evil.example:8888` whose name the attacker re-points at 127.0.0.1 reaches a loopback server as same-origin,
 * but its browser still sends `Host: evil.example:8888`, which is on no list.
 */

/** Names every client on this machine may use for a loopback listener, whatever address it is bound to. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'] as const;

/** Exact `Host` values a server answers, and the browser origins that go with them. */
export interface AllowedHosts {
  readonly hosts: readonly string[];
  readonly origins: readonly string[];
}

/** `::1` → `[::1]`: the form a `Host` header carries. */
function hostForHeader(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * A `Host` value in the one form lists hold: lower case (host names are case-insensitive) and without the trailing
 * dot of a fully qualified name (`localhost.:8888` reaches the same server as `localhost:8888`).
 */
export function normalizeHost(host: string): string {
  const value = host.trim().toLowerCase();
  const portAt = value.startsWith('[') ? value.indexOf(']') + 1 : value.lastIndexOf(':');
  const name = portAt > 0 ? value.slice(0, portAt) : value;
  const port = portAt > 0 ? value.slice(portAt) : '';
  return `${name.endsWith('.') ? name.slice(0, -1) : name}${port}`;
}

/**
 * The listen address itself and the loopback names on its port, plus `extra` (exact `Host` values such as
 * `mail.internal:8090`, for a server reached through a name or a proxy).
 */
export function allowedHostsFor(listenHost: string, port: number, extra: readonly string[] = []): AllowedHosts {
  const hosts = new Set([hostForHeader(listenHost), ...LOOPBACK_NAMES].map((host) => normalizeHost(`${host}:${port}`)));
  for (const host of extra) hosts.add(normalizeHost(host));
  const list = [...hosts];
  return { hosts: list, origins: list.flatMap((host) => [`http://${host}`, `https://${host}`]) };
}

/** Whether a request's `Host` header ("" when absent) is on the list. */
export function isHostAllowed(host: string, allowed: AllowedHosts): boolean {
  return host !== '' && allowed.hosts.includes(normalizeHost(host));
}
