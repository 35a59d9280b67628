import { z } from 'zod';
import type { OpenAiScript } from './fake-openai.js';
import { jsonAnswerOf, jsonPieces } from './fake-json-answer.js';

/** The request and response bodies of the fake Chat Completions server, after OpenAI's API reference. */

// Loose objects: the recorded body must keep every field the client sent, not only the ones we check.
const toolCallSchema = z.looseObject({ id: z.string().min(1), type: z.literal('function'), function: z.looseObject({ name: z.string(), arguments: z.string() }) });
const messageSchema = z.discriminatedUnion('role', [
  z.looseObject({ role: z.literal('system'), content: z.string() }),
  z.looseObject({ role: z.literal('developer'), content: z.string() }),
  z.looseObject({ role: z.literal('user'), content: z.string() }),
  z.looseObject({ role: z.literal('assistant'), content: z.string().nullable().optional(), tool_calls: z.array(toolCallSchema).optional() }),
  z.looseObject({ role: z.literal('tool'), tool_call_id: z.string().min(1), content: z.string() }),
]);
export const chatRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(messageSchema).min(1),
  stream: z.boolean().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  tools: z.array(z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string(), parameters: z.record(z.string(), z.unknown()).optional() }) })).optional(),
  response_format: z
    .discriminatedUnion('type', [
      z.looseObject({ type: z.literal('text') }),
      z.looseObject({ type: z.literal('json_object') }),
      z.looseObject({
        type: z.literal('json_schema'),
        json_schema: z.looseObject({
          name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'."),
          description: z.string().optional(),
          schema: z.record(z.string(), z.unknown()).optional(),
          strict: z.boolean().nullable().optional(),
        }),
      }),
    ])
    .optional(),
  temperature: z.number().min(0).max(2).optional(),
  max_tokens: z.int().positive().optional(),
});
export type ChatRequestBody = z.infer<typeof chatRequestSchema>;
type Message = ChatRequestBody['messages'][number];

/**
 * OpenAI refuses a history whose tool messages do not answer the assistant message just before them, and one whose
 * calls are left unanswered; the message is the one it sends (typo included).
 */
export function checkToolPairs(messages: readonly Message[]): string | undefined {
  let open = new Set<string>();
  for (const [i, message] of messages.entries()) {
    if (message.role === 'tool') {
      if (!open.delete(message.tool_call_id)) {
        return `Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'. (messages.[${i}].role)`;
      }
      continue;
    }
    if (open.size > 0) {
      return `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...open].join(', ')}`;
    }
    open = new Set(message.role === 'assistant' ? (message.tool_calls ?? []).map((c) => c.id) : []);
  }
  return undefined;
}

/**
 * OpenAI's refusals of a `response_format` it cannot use, in its words: `json_object` without the word "json" in the
 * prompt, and a strict schema with an object left open or a property left optional (strict mode needs neither).
 */
export function responseFormatProblem(body: ChatRequestBody): string | undefined {
  const format = body.response_format;
  if (format?.type === 'json_object' && !body.messages.some((m) => typeof m.content === 'string' && /json/i.test(m.content))) {
    return "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.";
  }
  if (format?.type !== 'json_schema' || format.json_schema.strict !== true) return undefined;
  const problem = strictProblem(format.json_schema.schema ?? {}, []);
  return problem && `Invalid schema for response_format '${format.json_schema.name}': ${problem}`;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function strictProblem(schema: Record<string, unknown>, path: string[]): string | undefined {
  const context = `In context=(${path.map((p) => `'${p}'`).join(', ')})`;
  const types = Array.isArray(schema['type']) ? schema['type'] : [schema['type']];
  const properties = isRecord(schema['properties']) ? schema['properties'] : undefined;
  if (types.includes('object') || properties !== undefined) {
    if (schema['additionalProperties'] !== false) return `${context}, 'additionalProperties' is required to be supplied and to be false.`;
    const required = Array.isArray(schema['required']) ? schema['required'] : [];
    const missing = Object.keys(properties ?? {}).find((key) => !required.includes(key));
    if (missing !== undefined) return `${context}, 'required' is required to be supplied and to be an array including every key in properties. Missing '${missing}'.`;
  }
  const children: Array<[string[], unknown]> = [
    ...Object.entries(properties ?? {}).map(([key, child]): [string[], unknown] => [[...path, 'properties', key], child]),
    ...Object.entries(isRecord(schema['$defs']) ? schema['$defs'] : {}).map(([key, child]): [string[], unknown] => [[...path, '$defs', key], child]),
    [[...path, 'items'], schema['items']],
    ...(Array.isArray(schema['anyOf']) ? schema['anyOf'] : []).map((child, i): [string[], unknown] => [[...path, 'anyOf', String(i)], child]),
  ];
  for (const [at, child] of children) {
    const problem = isRecord(child) ? strictProblem(child, at) : undefined;
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** The content pieces of an answer: a scripted `json` value goes as its JSON text (cut when asked), else the tokens. */
function contentPieces(script: OpenAiScript): string[] {
  const json = jsonAnswerOf(script);
  return json === undefined ? (script.tokens ?? []) : jsonPieces(json.text);
}

const roughTokens = (text: string): number => Math.ceil(text.length / 4);

function usageOf(body: ChatRequestBody, script: OpenAiScript) {
  const prompt_tokens = body.messages.reduce((n, m) => n + roughTokens(typeof m.content === 'string' ? m.content : ''), 0);
  const completion_tokens = contentPieces(script).length + (script.toolCalls ?? []).length * 10;
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

const argumentsText = (call: NonNullable<OpenAiScript['toolCalls']>[number]): string =>
  typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);

function finishReasonOf(script: OpenAiScript): string {
  if (jsonAnswerOf(script)?.truncated) return 'length';
  return script.finishReason ?? (script.toolCalls?.length ? 'tool_calls' : 'stop');
}

/** A non-streaming `chat.completion` object. */
export function completionOf(body: ChatRequestBody, script: OpenAiScript) {
  const toolCalls = (script.toolCalls ?? []).map((call, i) => ({ id: `call_fake${i}`, type: 'function', function: { name: call.name, arguments: argumentsText(call) } }));
  return {
    id: `chatcmpl-fake${Date.now()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    system_fingerprint: 'fp_fake',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: toolCalls.length ? null : contentPieces(script).join(''), refusal: null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
        logprobs: null,
        finish_reason: finishReasonOf(script),
      },
    ],
    usage: usageOf(body, script),
  };
}

/**
 * The `chat.completion.chunk`s of one streamed answer: `chunks` up to the last content or tool-call delta, and `tail`
 * (the finish chunk, then the usage chunk when asked for) which a hanging script never sends.
 */
export function streamChunksOf(body: ChatRequestBody, script: OpenAiScript, id: string) {
  const created = Math.floor(Date.now() / 1000);
  const withUsage = body.stream_options?.include_usage === true;
  // With include_usage, OpenAI puts `usage: null` on every chunk but the last.
  const chunk = (delta: Record<string, unknown>, finish_reason: string | null = null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model: body.model,
    system_fingerprint: 'fp_fake',
    choices: [{ index: 0, delta, logprobs: null, finish_reason }],
    ...(withUsage ? { usage: null } : {}),
  });
  const chunks = [chunk({ role: 'assistant', content: '', refusal: null })];
  for (const text of contentPieces(script)) chunks.push(chunk({ content: text }));
  const size = script.fragmentChars ?? 4;
  for (const [index, call] of (script.toolCalls ?? []).entries()) {
    chunks.push(chunk({ tool_calls: [{ index, id: `call_${id.slice(-6)}${index}`, type: 'function', function: { name: call.name, arguments: '' } }] }));
    const text = argumentsText(call);
    for (let at = 0; at < text.length; at += size) chunks.push(chunk({ tool_calls: [{ index, function: { arguments: text.slice(at, at + size) } }] }));
  }
  const tail: object[] = [chunk({}, finishReasonOf(script))];
  if (withUsage) tail.push({ id, object: 'chat.completion.chunk', created, model: body.model, system_fingerprint: 'fp_fake', choices: [], usage: usageOf(body, script) });
  return { chunks, tail };
}
