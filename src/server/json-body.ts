import type { z } from 'zod';
import { HttpError } from '../errors.js';

/** Issues named in a 400, at most: a body wrong everywhere needs no more to be fixed. */
const MAX_ISSUES_NAMED = 5;

/**
 * A JSON request body checked by `schema`, or a 400 naming what is wrong. Messages name fields and rules, never values:
 * the value that failed may be a password. The JSON parser's own message is not used either, since it quotes the text
 * around the error. `expected` shows the shape, e.g. `{email_id}`.
 */
export function parseJsonBody<T>(body: Buffer, schema: z.ZodType<T>, route: string, expected: string): T {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, `The body of ${route} is not valid JSON.`);
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.slice(0, MAX_ISSUES_NAMED).map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message));
  throw new HttpError(400, `Invalid body for ${route}: ${issues.join('; ')}. Expected ${expected}.`);
}
