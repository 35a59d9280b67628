import { z } from 'zod';
import { jsonAnswerOf, jsonPieces, type JsonAnswerScript } from './fake-json-answer.js';

/** What the fake Ollama answers one chat request with, and the request bodies it accepts (after Ollama's API docs). */

export interface ChatScript extends JsonAnswerScript {
  /** Content tokens streamed one chunk each. A `json` answer takes their place. */
  tokens?: string[];
  /** Tool calls sent in one non-final chunk after the tokens. */
  toolCalls?: Array<{ name: string; arguments: Record<string, unknown> }>;
  /** Delay before each chunk, ms (default 0). Non-streaming replies wait it once. */
  delayMs?: number;
  /** Delay before the response headers are sent, ms (default 0). */
  headersDelayMs?: number;
  /** The response headers also wait for this: a test starts the stream once its sockets are in place, not after a guess. */
  startWhen?: Promise<unknown>;
  /** Keep the stream open after sending the tokens, never sending the final chunk (until the client aborts). */
  hang?: boolean;
  /** Reply with this HTTP status and {"error": message} instead of a stream. */
  httpError?: { status: number; message: string };
  /**
   * Destroy the socket mid-stream after this many chunks (simulates a crash). The drop happens after the
   * next delayMs wait; with no delay the client may never see the last chunks, because undici errors the
   * body stream and discards what the consumer has not read yet.
   */
  dropAfterChunks?: number;
  /** Default "stop"; "length" for a `json` answer cut by `truncateJsonAt` (num_predict reached). */
  doneReason?: string;
  /**
   * Each streamed token is followed by `@` and the time, in µs, at which its chunk is written (`machineMicros`): a
   * benchmark reads every token's trip from the fake to its client, across processes.
   */
  stampTokens?: boolean;
}

/**
 * The machine's monotonic clock (CLOCK_MONOTONIC), µs: one clock for every process on the machine. Not
 * `performance.timeOrigin + performance.now()`: each process fixes its origin from the wall clock as it starts, and
 * two were seen 15 ms apart.
 */
export function machineMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

// Loose objects: the recorded body must keep every field the client sent, not only the ones we know.
export const chatRequestSchema = z.looseObject({
  model: z.string().min(1, 'model is required'),
  messages: z.array(z.looseObject({ role: z.string(), content: z.string().optional(), tool_calls: z.array(z.unknown()).optional() })).optional(),
  stream: z.boolean().optional(),
  tools: z.array(z.looseObject({ type: z.string(), function: z.looseObject({ name: z.string() }) })).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
  keep_alive: z.union([z.string(), z.number()]).optional(),
  /** Structured output: `"json"` (any JSON) or a JSON Schema object the sampler is constrained to. */
  format: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
});
export type ChatRequestBody = z.infer<typeof chatRequestSchema>;

/** Ollama's refusal of a `format` it cannot turn into a grammar (`""` means none), before anything is generated. */
export function formatProblem(format: ChatRequestBody['format']): string | undefined {
  if (typeof format !== 'string' || format === '' || format === 'json') return undefined;
  return `invalid format: ${JSON.stringify(format)}; expected "json" or a valid JSON Schema object`;
}

/** The content tokens and done_reason of a script: a `json` answer is its JSON text in pieces, cut when asked. */
export function answerOf(script: ChatScript): { tokens: string[]; doneReason: string } {
  const json = jsonAnswerOf(script);
  if (json === undefined) return { tokens: script.tokens ?? [], doneReason: script.doneReason ?? 'stop' };
  return { tokens: jsonPieces(json.text), doneReason: json.truncated ? 'length' : (script.doneReason ?? 'stop') };
}
