import { httpAuthHeaders } from './credentials.ts';

/** An answer read as `T`, or why there is none, in words for the user. */
export type ApiResult<T> = { ok: true; value: T } | { ok: false; status: number; message: string };

export type Method = 'GET' | 'POST' | 'DELETE';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The server's `{status: "error", message}` (or a mail-server style `{error: {message}}`), else the status. */
function failureMessage(status: number, json: unknown): string {
  if (isRecord(json)) {
    if (typeof json['message'] === 'string') return json['message'];
    const error = json['error'];
    if (isRecord(error) && typeof error['message'] === 'string') return error['message'];
  }
  return `The server answered HTTP ${status}.`;
}

/**
 * One call to a runtime endpoint as the signed-in user (the same credentials as the socket's). `read` checks the
 * answer's shape: what comes back is read defensively, as everything the page gets from the server.
 */
export async function callApi<T>(method: Method, path: string, read: (json: unknown) => T | undefined, body?: unknown): Promise<ApiResult<T>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: { ...httpAuthHeaders(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      cache: 'no-store',
    });
  } catch {
    return { ok: false, status: 0, message: 'No connection to the server; try again.' };
  }
  const json: unknown = await response.json().catch(() => undefined);
  if (!response.ok) return { ok: false, status: response.status, message: failureMessage(response.status, json) };
  const value = read(json);
  return value === undefined ? { ok: false, status: response.status, message: 'The server sent an answer this page cannot read.' } : { ok: true, value };
}

export function stringField(fields: Record<string, unknown>, key: string): string {
  const value = fields[key];
  return typeof value === 'string' ? value : '';
}
