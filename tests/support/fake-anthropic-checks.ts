/**
 * The Messages API's rules on a conversation and on a structured-output schema, as its 400 answers state them: a
 * client that breaks one gets the same refusal from the fake as from the real thing, instead of a test passing on a
 * request production would reject.
 */

interface Block {
  type: string;
  [key: string]: unknown;
}

interface Message {
  role: 'user' | 'assistant';
  content: string | Block[];
}

const blocksOf = (m: Message | undefined): Block[] => (m === undefined ? [] : typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content);

/** What is wrong with `messages`, in the API's words, or undefined. */
export function checkMessages(messages: readonly Message[]): string | undefined {
  for (const [i, message] of messages.entries()) {
    const blocks = blocksOf(message);
    if (blocks.length === 0) return `messages.${i}: all messages must have non-empty content`;
    for (const block of blocks) {
      if (block.type === 'text' && block['text'] === '') return `messages.${i}: text content blocks must be non-empty`;
    }
    const toolUseIds = blocksOf(messages[i - 1]).flatMap((b) => (b.type === 'tool_use' && messages[i - 1]!.role === 'assistant' ? [String(b['id'])] : []));
    if (message.role === 'user') {
      const firstOther = blocks.findIndex((b) => b.type !== 'tool_result');
      if (firstOther !== -1 && blocks.slice(firstOther).some((b) => b.type === 'tool_result')) {
        return `messages.${i}: tool_result blocks must come first in the user message, before any other content`;
      }
      for (const block of blocks.filter((b) => b.type === 'tool_result')) {
        if (!toolUseIds.includes(String(block['tool_use_id']))) {
          return `messages.${i}.content: unexpected tool_use_id found in tool_result blocks: ${String(block['tool_use_id'])}. Each tool_result block must have a corresponding tool_use block in the previous message.`;
        }
      }
    }
    if (message.role === 'assistant') {
      const ids = blocks.flatMap((b) => (b.type === 'tool_use' ? [String(b['id'])] : []));
      if (ids.some((id) => !/^[a-zA-Z0-9_-]+$/.test(id))) return `messages.${i}: tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'`;
      const next = messages[i + 1];
      if (ids.length > 0 && next !== undefined) {
        const answered = new Set(blocksOf(next).flatMap((b) => (b.type === 'tool_result' ? [String(b['tool_use_id'])] : [])));
        const missing = ids.filter((id) => !answered.has(id));
        if (missing.length > 0) {
          return `messages.${i}: tool_use ids were found without tool_result blocks immediately after: ${missing.join(', ')}. Each tool_use block must have a corresponding tool_result block in the next message.`;
        }
      }
    }
  }
  return undefined;
}

/**
 * Constraints structured outputs cannot enforce, refused rather than ignored (the docs' list of unsupported JSON Schema
 * features; the SDK's transform moves them into descriptions). `minItems` is allowed as 0 or 1 only.
 */
const UNSUPPORTED_KEYWORDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minLength', 'maxLength', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties', 'patternProperties'];

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What is wrong with an `output_config.format.schema`, or undefined: objects must be closed, constraints supported. */
export function checkOutputSchema(schema: Record<string, unknown>, path = 'output_config.format.schema'): string | undefined {
  const types = Array.isArray(schema['type']) ? schema['type'] : [schema['type']];
  if ((types.includes('object') || isRecord(schema['properties'])) && schema['additionalProperties'] !== false) {
    return `${path}: For 'object' type, 'additionalProperties' must be explicitly set to false`;
  }
  const unsupported = UNSUPPORTED_KEYWORDS.find((keyword) => keyword in schema);
  if (unsupported !== undefined) return `${path}: '${unsupported}' is not supported`;
  if (typeof schema['minItems'] === 'number' && schema['minItems'] > 1) return `${path}: 'minItems' values other than 0 or 1 are not supported`;
  const children: Array<[string, unknown]> = [
    ...Object.entries(isRecord(schema['properties']) ? schema['properties'] : {}).map(([key, child]): [string, unknown] => [`${path}.properties.${key}`, child]),
    ...Object.entries(isRecord(schema['$defs']) ? schema['$defs'] : {}).map(([key, child]): [string, unknown] => [`${path}.$defs.${key}`, child]),
    [`${path}.items`, schema['items']],
    ...['anyOf', 'allOf'].flatMap((keyword) => (Array.isArray(schema[keyword]) ? (schema[keyword] as unknown[]) : []).map((child, i): [string, unknown] => [`${path}.${keyword}.${i}`, child])),
  ];
  for (const [at, child] of children) {
    const problem = isRecord(child) ? checkOutputSchema(child, at) : undefined;
    if (problem !== undefined) return problem;
  }
  return undefined;
}
