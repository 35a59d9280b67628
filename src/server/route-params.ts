import { HttpError } from '../errors.js';

/** Longest piece of a client's input quoted back in an error message. */
const QUOTED_CHARS = 100;

/** A route's `:name` segments in order: `/a/:id/b/:n` → `["id", "n"]`. */
export function paramNames(path: string): string[] {
  return path
    .split('/')
    .filter((segment) => segment.startsWith(':'))
    .map((segment) => segment.slice(1));
}

/** Quotes a piece of the client's input in an error message, cut short: it may be huge. */
export function quoted(text: string): string {
  return JSON.stringify(text.length > QUOTED_CHARS ? `${text.slice(0, QUOTED_CHARS)}…` : text);
}

/**
 * One route parameter, percent-decoded. `decodeURIComponent` throws a `URIError` on a malformed encoding
 * (`%E0%A4%A`): that is the client's mistake, a 400, never an exception out of a uWS handler.
 */
export function decodeParam(raw: string, name: string): string {
  try {
    return decodeURIComponent(raw);
  } catch (cause) {
    throw new HttpError(400, `The path parameter "${name}" is not valid percent-encoded UTF-8: ${quoted(raw)}.`, { cause });
  }
}
