import { normalizeHost } from '../net/host-allow-list.js';
import type { HostPolicy } from './host-policy.js';

/**
 * Which browser origins may open a socket or read an HTTP answer. A browser always sends `Origin` on a WebSocket
 * upgrade, and any page can try to open one to us; refusing foreign origins at the upgrade is what stops a page
 * elsewhere from using a visitor's session (cross-site WebSocket hijacking). Clients that send no `Origin` are not
 * browsers and are not subject to it.
 */
export class OriginPolicy {
  private readonly any: boolean;
  private readonly allowed: Set<string>;

  /** `hosts` decides which `Host` values count as the server's own for the same-origin rule. */
  constructor(
    allowedOrigins: readonly string[],
    private readonly hosts: Pick<HostPolicy, 'allows'>,
  ) {
    this.any = allowedOrigins.includes('*');
    this.allowed = new Set(allowedOrigins.filter((o) => o !== '*').map((o) => new URL(o).origin));
  }

  /** `origin` and `host` are the request's headers ("" when absent). */
  allows(origin: string, host: string): boolean {
    if (origin === '') return true;
    if (this.any) return true;
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      return false;
    }
    // The server's own pages (the chat UI, the inspector) are same-origin: same host and port as the request. Only
    // under a Host of ours: a DNS-rebinding page is same-origin with whatever name it chose (`evil.example:8888`).
    if (host !== '' && this.hosts.allows(host) && normalizeHost(parsed.host) === normalizeHost(host)) return true;
    return this.allowed.has(parsed.origin);
  }

  /** Headers for an HTTP answer to a cross-origin caller that is allowed; none otherwise. */
  corsHeaders(origin: string, host: string): Record<string, string> {
    if (origin === '' || !this.allows(origin, host)) return {};
    return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
  }
}

/** Request headers a cross-origin page may send (auth and the webhook signature). */
export const CORS_ALLOWED_HEADERS = 'authorization, content-type, x-user-email, x-webhook-signature, x-webhook-timestamp';
/** Browsers may cache a preflight answer this long, in seconds. */
export const CORS_MAX_AGE_S = '600';
