import type { IncomingHttpHeaders } from 'node:http';
import { isHostAllowed, type AllowedHosts } from '../net/host-allow-list.js';

/**
 * Why a request must be refused, or undefined when its `Host` is ours and its `Origin` (sent by browsers only) is one
 * of ours. Server-side MCP clients, the runtime among them, send no `Origin`.
 */
export function hostRefusal(headers: IncomingHttpHeaders, allowed: AllowedHosts): string | undefined {
  if (!isHostAllowed(headers.host ?? '', allowed)) return `Host ${JSON.stringify(headers.host ?? '')} is not allowed ([mail] allowed_hosts)`;
  const origin = headers.origin?.toLowerCase();
  if (origin !== undefined && !allowed.origins.includes(origin)) return `Origin ${JSON.stringify(headers.origin)} is not allowed`;
  return undefined;
}
