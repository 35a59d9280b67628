import type { AccountConnectRequest, AccountErrorCode, AccountStatus } from '../../src/mail-account/account-contract.ts';
import { httpAuthHeaders } from './credentials.ts';

export type { AccountConnectRequest, AccountStatus };
export type { ConnectedAccount } from '../../src/mail-account/account-contract.ts';

const PATH = '/api/mail/account';

export type AccountResult = { ok: true; account: AccountStatus } | { ok: false; status: number; code: string | undefined; message: string };

/** What the user can do about each failure; the server's own sentence is shown beside it. */
const ADVICE: Partial<Record<AccountErrorCode, string>> = {
  auth_failed: 'Wrong username or password (for Gmail, iCloud and Fastmail use an app password).',
  tls_failed: 'No secure connection could be made: check the host and the port (imaps:// is 993, smtps:// 465, smtp:// 587).',
  unreachable: 'The mail server could not be reached: check the host names and ports.',
  no_inbox: 'Signed in, but this account has no INBOX.',
  smtp_failed: 'Reading mail works, but sending does not: check the SMTP URL.',
  host_not_allowed: 'This server only connects to mail servers on the internet, not to private or local addresses.',
  managed_by_operator: 'This mailbox is set up by the operator and cannot be changed here.',
  no_secret_key: 'Connecting mailboxes is not set up on this server yet (the mail server needs a secret key).',
  not_supported: 'This mail server does not support connecting your own mailbox.',
  mail_server_unreachable: 'The mail server is not reachable right now; try again in a moment.',
};

/** The sentence to show for a failed request: advice by code when there is some, else what the server said. */
export function describeFailure(result: Extract<AccountResult, { ok: false }>): { advice: string; detail: string | undefined } {
  const advice = result.code !== undefined ? ADVICE[result.code as AccountErrorCode] : undefined;
  if (advice === undefined) return { advice: result.message, detail: undefined };
  return { advice, detail: result.message !== advice ? result.message : undefined };
}

function isStatus(json: unknown): json is AccountStatus {
  return typeof json === 'object' && json !== null && typeof (json as { connected?: unknown }).connected === 'boolean';
}

function failure(status: number, json: unknown): AccountResult {
  const body = (typeof json === 'object' && json !== null ? json : {}) as { message?: unknown; error?: { code?: unknown; message?: unknown } };
  const code = typeof body.error?.code === 'string' ? body.error.code : undefined;
  const message = typeof body.error?.message === 'string' ? body.error.message : typeof body.message === 'string' ? body.message : `The server answered HTTP ${status}.`;
  return { ok: false, status, code, message };
}

async function call(method: 'GET' | 'PUT' | 'DELETE', body?: AccountConnectRequest): Promise<AccountResult> {
  let response: Response;
  try {
    response = await fetch(PATH, {
      method,
      headers: { ...httpAuthHeaders(), ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      cache: 'no-store',
    });
  } catch {
    return { ok: false, status: 0, code: undefined, message: 'No connection to the server; try again.' };
  }
  const json: unknown = await response.json().catch(() => undefined);
  // 404 `{connected: false}` is an answer, not a failure: there is no account (any more).
  if ((response.ok || response.status === 404) && isStatus(json)) return { ok: true, account: json };
  return failure(response.status, json);
}

export const mailAccount = {
  get: (): Promise<AccountResult> => call('GET'),
  connect: (request: AccountConnectRequest): Promise<AccountResult> => call('PUT', request),
  disconnect: (): Promise<AccountResult> => call('DELETE'),
};
