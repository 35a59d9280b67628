import type { z } from 'zod';

/** Why a frame is not a message: the three codes both socket protocols share. */
export type TypedMessageFailure = { ok: false; code: 'invalid_json' | 'invalid_message' | 'unknown_type'; message: string };

type Schemas = Record<string, z.ZodType>;

/**
 * JSON text → a message of one of `schemas` (keyed by its `type`), or a failure that names the problem: bad JSON, a
 * missing or unknown `type`, or which field of a known type is wrong.
 */
export function parseTypedMessage<S extends Schemas>(schemas: S, text: string): { ok: true; message: z.infer<S[keyof S]> } | TypedMessageFailure {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { ok: false, code: 'invalid_json', message: `Invalid JSON: ${(error as Error).message}` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, code: 'invalid_message', message: 'A message must be a JSON object with a "type" field.' };
  }
  const type: unknown = (raw as { type?: unknown }).type;
  if (typeof type !== 'string') return { ok: false, code: 'invalid_message', message: 'Missing field "type" (a string).' };
  const schema = Object.hasOwn(schemas, type) ? schemas[type] : undefined;
  if (!schema) return { ok: false, code: 'unknown_type', message: `Unknown message type "${type}". Known: ${Object.keys(schemas).join(', ')}.` };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`).join('; ');
    return { ok: false, code: 'invalid_message', message: `Invalid "${type}" message: ${detail}` };
  }
  return { ok: true, message: parsed.data as z.infer<S[keyof S]> };
}
