import { isIP } from 'node:net';
import type uWS from 'uWebSockets.js';

/**
 * Every `X-Forwarded-For` line of a request, joined in order: a proxy may add its own line instead of appending to
 * the client's, and reading only the first line would then read the client's (forgeable) one.
 */
export function forwardedFor(req: uWS.HttpRequest): string {
  const lines: string[] = [];
  req.forEach((name, value) => {
    if (name === 'x-forwarded-for') lines.push(value);
  });
  return lines.join(',');
}

/** The address of the socket's peer: the client itself, or the last proxy in front of us. */
export function peerAddress(res: uWS.HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString('utf8');
}

/**
 * The address in one `X-Forwarded-For` entry, or undefined when it holds none. Some load balancers append `ip:port` or
 * `[v6]:port`; keyed as written, each source port would get its own rate-limit budget, and any text its own key.
 */
export function forwardedAddress(entry: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(entry);
  // One colon: an IPv4 address (or a name) with a port; a bare IPv6 address has several.
  const withPort = /^([^:]+):\d{1,5}$/.exec(entry);
  const address = (bracketed?.[1] ?? withPort?.[1] ?? entry).toLowerCase();
  return isIP(address) === 0 ? undefined : address;
}

/**
 * The client's address behind `trustedHops` proxies (`[server] trust_proxy`). Each proxy appends the address it got
 * the request from; the last one is our socket's peer. So the right-most `trustedHops - 1` entries of
 * `X-Forwarded-For` are our other proxies', and the entry just left of them (index `length - trustedHops`) is the
 * client's. Entries further left were sent by the client and are not trusted: prepending some does not move it. With
 * fewer entries than hops, the left-most is taken; with none (or no trusted hops), or one that holds no address, the
 * peer.
 */
export function clientIp(peer: string, forwardedForHeader: string, trustedHops: number): string {
  if (trustedHops <= 0) return peer;
  const entries = forwardedForHeader
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  return forwardedAddress(entries[Math.max(entries.length - trustedHops, 0)] ?? '') ?? peer;
}
