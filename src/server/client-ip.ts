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
 * The client's address behind `trustedHops` proxies (`[server] trust_proxy`). Each proxy appends the address it got
 * the request from; the last one is our socket's peer. So the right-most `trustedHops - 1` entries of
 * `X-Forwarded-For` are our other proxies', and the entry just left of them (index `length - trustedHops`) is the
 * client's. Entries further left were sent by the client and are not trusted: prepending some does not move it. With
 * fewer entries than hops, the left-most is taken; with none (or no trusted hops), the peer.
 */
export function clientIp(peer: string, forwardedForHeader: string, trustedHops: number): string {
  if (trustedHops <= 0) return peer;
  const entries = forwardedForHeader
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) return peer;
  return entries[Math.max(entries.length - trustedHops, 0)] ?? peer;
}
