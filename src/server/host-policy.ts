import type { Config } from '../config/schema.js';
import { allowedHostsFor, isHostAllowed, type AllowedHosts } from '../net/host-allow-list.js';
import { isLoopbackHost, listenHost } from '../net/loopback.js';

/**
 * Which `Host` values the runtime answers: the guard against DNS rebinding. A page at `http://evil.example:8888`
 * whose name now resolves to 127.0.0.1 is same-origin with a loopback runtime, so the browser lets it open `/ws` and
 * sign in by email in dev mode; only the `Host` it sends (`evil.example:8888`) tells it apart.
 *
 * Enforced on a loopback listener, and wherever `[server] allowed_hosts` is set. A runtime on a wildcard or network
 * address with no list is reached by whatever names its DNS and proxies give it, which we cannot guess; rebinding
 * gains an attacker nothing there, since dev mode is refused off loopback and every door then needs a token the
 * attacker's page does not have.
 */
export class HostPolicy {
  private readonly enforced: boolean;
  /** Known once listening: port 0 picks the port, and the list holds the bound one. */
  private allowed: AllowedHosts | undefined;

  constructor(private readonly config: Pick<Config['server'], 'listen_addr' | 'allowed_hosts'>) {
    this.enforced = config.allowed_hosts.length > 0 || isLoopbackHost(listenHost(config.listen_addr));
  }

  /** Call once the server listens, with the port it is bound to. */
  bind(port: number): void {
    this.allowed = allowedHostsFor(listenHost(this.config.listen_addr), port, this.config.allowed_hosts);
  }

  /** `host` is the request's `Host` header ("" when absent). */
  allows(host: string): boolean {
    if (!this.enforced) return true;
    // Nothing connects before the server listens; were it to, refusing is the safe answer.
    return this.allowed !== undefined && isHostAllowed(host, this.allowed);
  }

  refusal(host: string): string {
    return `Host ${JSON.stringify(host)} is not allowed: add it to [server] allowed_hosts if this runtime is reached under that name.`;
  }
}
