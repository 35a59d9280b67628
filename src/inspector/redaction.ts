/**
 * What the inspector hides until an operator reveals a conversation: what people and tools wrote. Structure stays
 * visible (event types, ids, tool names, roles, numbers, error codes), so a redacted timeline or export still shows
 * and replays what happened, only not what was said.
 */

export function redactText(text: string): string {
  return `[redacted ${text.length} chars]`;
}

/** Keys whose string value is free text: message bodies, chat text, tool result text, partial answers, reasons. */
const TEXT_KEYS = new Set(['content', 'text', 'partial', 'reason']);
/** Keys under which every string is free text: tool arguments, structured tool results, recipients granted mail. */
const FREE_TEXT_TREES = new Set(['arguments', 'args', 'structured', 'addresses']);

function redactAllStrings(value: unknown): unknown {
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map(redactAllStrings);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, redactAllStrings(inner)]));
  }
  return value;
}

function redactUnder(key: string | undefined, value: unknown): unknown {
  if (key !== undefined && FREE_TEXT_TREES.has(key)) return redactAllStrings(value);
  if (typeof value === 'string') return key !== undefined && TEXT_KEYS.has(key) ? redactText(value) : value;
  if (Array.isArray(value)) return value.map((item) => redactUnder(undefined, item));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([inner, item]) => [inner, redactUnder(inner, item)]));
  }
  return value;
}

/**
 * A deep copy of a JSON-like value (event, context, message, journal payload) with its free text replaced by
 * `[redacted N chars]`. Walks the whole value: call it only when something is about to be sent.
 */
export function redact(value: unknown): unknown {
  return redactUnder(undefined, value);
}

/**
 * `redact` for callers that need the input's type back. Sound because only string leaves change, into strings: every
 * object keeps its keys and every non-string leaf its value.
 */
export function redactSameShape<T>(value: T): T {
  return redact(value) as T;
}

/** A tool call's arguments on their own (no enclosing `arguments` key to recognise them by): every string is hidden. */
export function redactArguments(args: Record<string, unknown>): Record<string, unknown> {
  return redactAllStrings(args) as Record<string, unknown>;
}
