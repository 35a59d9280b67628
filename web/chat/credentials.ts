import type { ClientMessage } from './protocol-types.ts';
import { saved } from './store.ts';

type AuthMessage = Extract<ClientMessage, { type: 'auth' }>;

/**
 * A token handed over in the page's URL fragment (`#token=<jwt>`): browsers never send the fragment to the server, so
 * it stays out of access logs. It is removed from the address bar and the history at once.
 */
export function takeTokenFromFragment(): string | undefined {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token')?.trim();
  if (!params.has('token')) return undefined;
  params.delete('token');
  const rest = params.toString();
  history.replaceState(history.state, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  return token || undefined;
}

/** Signs this tab in from now on with a token, or (dev mode) an email address; the other one is forgotten. */
export function remember(credentials: { token: string } | { email: string }): void {
  if ('token' in credentials) {
    saved.setToken(credentials.token);
    saved.setEmail(undefined);
  } else {
    saved.setToken(undefined);
    saved.setEmail(credentials.email);
  }
}

export function forget(): void {
  saved.setToken(undefined);
  saved.setEmail(undefined);
}

/** What each new socket sends to sign in, if this tab has credentials. */
export function authMessage(): AuthMessage | undefined {
  const token = saved.token();
  if (token) return { type: 'auth', token };
  const email = saved.email();
  return email ? { type: 'auth', email } : undefined;
}

/** The same credentials for the runtime's HTTP endpoints: the token as a bearer, or (dev mode) the address. */
export function httpAuthHeaders(): Record<string, string> {
  const token = saved.token();
  if (token) return { authorization: `Bearer ${token}` };
  const email = saved.email();
  return email ? { 'x-user-email': email } : {};
}
