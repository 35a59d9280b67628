import { isLoopbackHost } from '../../net/loopback.js';

/** Where an account's IMAP or SMTP server is, from `imap_url` / `smtp_url` (already checked by the config schema). */
export interface MailEndpoint {
  host: string;
  port: number;
  /** TLS from the first byte (`imaps://`, `smtps://`); otherwise STARTTLS. */
  secure: boolean;
  /**
   * Without TLS a password would cross the network readable, and an attacker in the path can hide STARTTLS: so
   * STARTTLS is required, except on loopback (a local server, the tests' Dovecot).
   */
  requireStartTls: boolean;
}

const DEFAULT_PORTS: Record<string, number> = { imap: 143, imaps: 993, smtp: 587, smtps: 465 };

export function parseMailEndpoint(url: string): MailEndpoint {
  const parsed = new URL(url);
  const scheme = parsed.protocol.slice(0, -1);
  const port = parsed.port ? Number(parsed.port) : DEFAULT_PORTS[scheme];
  if (port === undefined) throw new TypeError(`not an IMAP or SMTP URL: ${url}`);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const secure = scheme.endsWith('s');
  return { host, port, secure, requireStartTls: !secure && !isLoopbackHost(host) };
}

/** For messages and the account view: never more than the scheme, host and port. */
export function describeEndpoint(endpoint: MailEndpoint): string {
  return `${endpoint.host}:${endpoint.port}`;
}
