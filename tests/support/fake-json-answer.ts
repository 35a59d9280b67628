/**
 * A structured answer, as the fake LLM servers write it: the JSON text of a value, the way a model decoding under a
 * JSON Schema format emits it. `truncateJsonAt` cuts the text short, as a real server does when the answer reaches
 * its token limit mid-object (Ollama's `num_predict`, OpenAI's and Anthropic's `max_tokens`): the text is then not
 * JSON, and the stop reason says why ("length", or "max_tokens" on Anthropic). Shared by the three fakes.
 */
export interface JsonAnswerScript {
  /** The value the model "writes"; sent as its JSON text in the content (or text block). */
  json?: unknown;
  /** Send only this many characters of that text, and stop as a token limit does. */
  truncateJsonAt?: number;
}

/** Characters per streamed piece of a JSON answer: small, so even a short object spans several chunks. */
const JSON_PIECE_CHARS = 8;

/** The text of a scripted JSON answer and whether it was cut; undefined when the script has no `json`. */
export function jsonAnswerOf(script: JsonAnswerScript): { text: string; truncated: boolean } | undefined {
  if (script.json === undefined) return undefined;
  const whole = JSON.stringify(script.json);
  const cut = script.truncateJsonAt;
  return cut !== undefined && cut < whole.length ? { text: whole.slice(0, cut), truncated: true } : { text: whole, truncated: false };
}

/** The streamed pieces of a JSON answer: cut anywhere, even inside a string or a number, as tokens are. */
export function jsonPieces(text: string, size = JSON_PIECE_CHARS): string[] {
  const out: string[] = [];
  for (let at = 0; at < text.length; at += size) out.push(text.slice(at, at + size));
  return out;
}

export interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
}

/**
 * The plainest instance of a schema: the first enum value, `text` for strings, false, 0, one item per array. What an
 * unscripted fake "model" writes under a JSON Schema format, so that callers that do not care get a valid answer.
 */
export function instanceOf(schema: JsonSchema, text: string): unknown {
  if (schema.const !== undefined) return schema.const;
  if (schema.enum?.length) return schema.enum[0];
  if (schema.anyOf?.length) return instanceOf(schema.anyOf[0]!, text);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object':
      return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([name, property]) => [name, instanceOf(property, text)]));
    case 'array':
      return schema.items ? [instanceOf(schema.items, text)] : [];
    case 'boolean':
      return false;
    case 'number':
    case 'integer':
      return 0;
    case 'null':
      return null;
    default:
      return text;
  }
}
