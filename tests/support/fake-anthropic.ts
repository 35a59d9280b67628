import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { FakePromptCache, promptBlocks, type CacheUsage } from './fake-anthropic-cache.js';
import { checkMessages, checkOutputSchema } from './fake-anthropic-checks.js';
import { jsonAnswerOf, jsonPieces, type JsonAnswerScript } from './fake-json-answer.js';
import { ChangeWaiters } from './change-waiters.js';

/**
 * A fake Anthropic Messages API over real HTTP, written from the public docs, for the official SDK to talk to: SSE
 * streams (`event: <name>\ndata: <json>\n\n`), errors in Anthropic's `{type:"error", error:{type, message}}` shape,
 * `GET /v1/models`, and a prompt cache with a simulated prefill cost so time to first token shows what caching saves.
 */

export interface MessageScript extends JsonAnswerScript {
  /** Text deltas, one `text_delta` each. A `json` answer takes their place. */
  text?: string[];
  /** `tool_use` blocks after the text; each input goes out as JSON cut into `jsonPieceChars`-long `input_json_delta`s. */
  toolUses?: Array<{ name: string; input: Record<string, unknown> }>;
  /** @default 4 */
  jsonPieceChars?: number;
  /** Delay before each event, ms. */
  delayMs?: number;
  /** The response headers also wait for this (a test starts the stream once it is ready). */
  startWhen?: Promise<unknown>;
  /** Stop after the content blocks and keep the stream open (until the client goes). */
  hang?: boolean;
  /** Answer this status with an Anthropic error body instead of a message. */
  httpError?: { status: number; type: string; message: string; retryAfter?: string };
  /** An `event: error` after this many events of a 200 stream (Anthropic's overload mid-answer). */
  streamError?: { afterEvents: number; type: string; message: string };
  /** @default "end_turn", or "tool_use" when there are tool uses, or "max_tokens" for a `json` answer cut by `truncateJsonAt` */
  stopReason?: string;
}

export interface FakeAnthropicOptions {
  apiKey?: string;
  models?: string[];
  /** Simulated prefill: ms before the first event per 1000 prompt tokens not read from the cache. @default 0 */
  prefillMsPer1kTokens?: number;
  /** Shorter marked prefixes are not cached, as on the real API. @default 1024 */
  minCacheableTokens?: number;
  /** false: answer as if the request had no `cache_control` at all (the baseline caching is measured against). @default true */
  honourCacheControl?: boolean;
}

const RequestSchema = z.looseObject({
  model: z.string(),
  max_tokens: z.int().nonnegative(),
  messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant']), content: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]) })).min(1),
  system: z.union([z.string(), z.array(z.looseObject({ type: z.literal('text'), text: z.string() }))]).optional(),
  tools: z.array(z.looseObject({ name: z.string(), input_schema: z.looseObject({ type: z.literal('object') }) })).optional(),
  stream: z.boolean().optional(),
  /** Structured output: the answer's text is JSON decoded under `format.schema`. */
  output_config: z
    .looseObject({
      format: z.looseObject({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) }).nullish(),
      effort: z.enum(['low', 'medium', 'high', 'xhigh', 'max']).nullish(),
    })
    .optional(),
});
export type MessagesRequestBody = z.infer<typeof RequestSchema>;

export interface RecordedRequest {
  body: MessagesRequestBody;
  headers: IncomingMessage['headers'];
  usage?: CacheUsage;
  /** The client closed the connection before `message_stop`. */
  aborted: boolean;
  /** ms from the request's arrival to its first event (`message_start`). */
  firstEventMs?: number;
}

const DEFAULT_SCRIPT: MessageScript = { text: ['Hello', ' from', ' fake', ' Claude'] };

function sendError(res: ServerResponse, status: number, type: string, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_fake_${status}`, ...headers });
  res.end(JSON.stringify({ type: 'error', error: { type, message } }));
}

function sendJson(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_fake' });
  res.end(JSON.stringify(body));
}

/** The text of an answer, in deltas: a scripted `json` value as its JSON text (cut when asked), else the text. */
function textOf(script: MessageScript): string[] {
  const json = jsonAnswerOf(script);
  return json === undefined ? (script.text ?? []) : jsonPieces(json.text);
}

function stopReasonOf(script: MessageScript): string {
  if (jsonAnswerOf(script)?.truncated) return 'max_tokens';
  return script.stopReason ?? (script.toolUses?.length ? 'tool_use' : 'end_turn');
}

/** The text pieces an answer arrives in: JSON is cut anywhere, even inside a string or a number. */
function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

export class FakeAnthropic {
  readonly requests: RecordedRequest[] = [];
  readonly cache: FakePromptCache;
  /** Streams answered (headers sent) and streams ended, by the fake or by the client. */
  openedStreams = 0;
  closedStreams = 0;
  private readonly queue: MessageScript[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly changes = new ChangeWaiters('FakeAnthropic');
  private models: string[];

  private constructor(private readonly server: Server, readonly url: string, private readonly options: Required<FakeAnthropicOptions>) {
    this.models = options.models;
    this.cache = new FakePromptCache(options.minCacheableTokens);
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.route(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendError(res, 500, 'api_error', error instanceof Error ? error.message : String(error));
        else res.destroy();
      });
    });
  }

  static async start(options: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const full = { apiKey: 'test-key', models: ['claude-test'], prefillMsPer1kTokens: 0, minCacheableTokens: 1024, honourCacheControl: true, ...options };
    return new FakeAnthropic(server, `http://127.0.0.1:${port}`, full);
  }

  enqueue(...scripts: MessageScript[]): void {
    this.queue.push(...scripts);
  }

  setPrefillMsPer1kTokens(ms: number): void {
    this.options.prefillMsPer1kTokens = ms;
  }

  get openStreams(): number {
    return this.openedStreams - this.closedStreams;
  }

  waitFor(done: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
    return this.changes.waitFor(done, what, timeoutMs);
  }

  waitForAbort(index: number): Promise<void> {
    return this.waitFor(() => this.requests[index]?.aborted === true, `abort of request ${index}`);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    // Before any route, as the real API does: a wrong key never learns whether a model exists.
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if ((req.headers['x-api-key'] ?? bearer) !== this.options.apiKey) return sendError(res, 401, 'authentication_error', 'invalid x-api-key');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(String(req.headers['anthropic-version'] ?? ''))) {
      return sendError(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
    }
    const model = /^\/v1\/models\/([^/]+)$/.exec(path)?.[1];
    if (req.method === 'GET' && path === '/v1/models') {
      const data = this.models.map((id) => this.modelInfo(id));
      return sendJson(res, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
    }
    if (req.method === 'GET' && model !== undefined) {
      const id = decodeURIComponent(model);
      return this.models.includes(id) ? sendJson(res, this.modelInfo(id)) : sendError(res, 404, 'not_found_error', `model: ${id}`);
    }
    if (req.method === 'POST' && path === '/v1/messages') return this.handleMessages(req, res);
    sendError(res, 404, 'not_found_error', 'Not Found');
  }

  private modelInfo(id: string) {
    return { type: 'model', id, display_name: id, created_at: '2026-01-01T00:00:00Z' };
  }

  private async handleMessages(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const parsed = RequestSchema.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    if (!parsed.success) return sendError(res, 400, 'invalid_request_error', z.prettifyError(parsed.error));
    const body = parsed.data;
    const outputSchema = body.output_config?.format?.schema;
    const problem = checkMessages(body.messages) ?? (outputSchema === undefined ? undefined : checkOutputSchema(outputSchema));
    if (problem) return sendError(res, 400, 'invalid_request_error', problem);
    const arrivedAt = performance.now();
    const record: RecordedRequest = { body, headers: req.headers, aborted: false };
    this.requests.push(record);
    this.changes.notify();
    if (!this.models.includes(body.model)) return sendError(res, 404, 'not_found_error', `model: ${body.model}`);

    const script = this.queue.shift() ?? DEFAULT_SCRIPT;
    const closed = new AbortController();
    let finished = false;
    res.once('close', () => {
      closed.abort();
      if (!finished) record.aborted = true;
      this.changes.notify();
    });
    const wait = async (ms: number): Promise<boolean> => {
      if (ms > 0) await sleep(ms, undefined, { signal: closed.signal }).catch(() => undefined);
      return !closed.signal.aborted;
    };
    if (script.startWhen) await Promise.race([script.startWhen, new Promise((r) => closed.signal.addEventListener('abort', r))]);
    if (closed.signal.aborted) return;
    if (script.httpError) {
      const { status, type, message, retryAfter } = script.httpError;
      finished = true;
      return sendError(res, status, type, message, retryAfter ? { 'retry-after': retryAfter } : {});
    }

    const blocks = promptBlocks(body).map((b) => (this.options.honourCacheControl ? b : { ...b, marked: false }));
    const usage = this.cache.apply(blocks);
    record.usage = usage;
    // Prefill reads every prompt token not served from the cache (a cache write costs a full read).
    const uncached = usage.input_tokens + usage.cache_creation_input_tokens;
    if (!(await wait((uncached / 1000) * this.options.prefillMsPer1kTokens))) return;

    const events = this.eventsOf(script, body.model, usage);
    if (body.stream !== true) {
      finished = true;
      record.firstEventMs = performance.now() - arrivedAt;
      return sendJson(res, this.messageOf(script, body.model, usage));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_fake_stream' });
    res.flushHeaders();
    this.openedStreams += 1;
    res.once('close', () => {
      this.closedStreams += 1;
      this.changes.notify();
    });
    let sent = 0;
    for (const [name, data] of events) {
      if (!(await wait(script.delayMs ?? 0))) return;
      if (script.streamError && sent === script.streamError.afterEvents) {
        finished = true;
        res.end(`event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: script.streamError.type, message: script.streamError.message } })}\n\n`);
        return;
      }
      if (script.hang && name === 'message_delta') return;
      if (sent === 0) record.firstEventMs = performance.now() - arrivedAt;
      sent += 1;
      const frame = `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
      if (name === 'message_stop') {
        finished = true;
        res.end(frame);
      } else res.write(frame);
    }
  }

  private messageOf(script: MessageScript, model: string, usage: CacheUsage) {
    const toolUses = script.toolUses ?? [];
    const text = textOf(script);
    const content = [
      ...(text.length ? [{ type: 'text', text: text.join('') }] : []),
      ...toolUses.map((t, i) => ({ type: 'tool_use', id: `toolu_fake_${i}`, name: t.name, input: t.input })),
    ];
    const stop_reason = stopReasonOf(script);
    return { id: 'msg_fake', type: 'message', role: 'assistant', model, content, stop_reason, stop_sequence: null, usage: { ...usage, output_tokens: this.outputTokens(script) } };
  }

  private outputTokens(script: MessageScript): number {
    return textOf(script).length + (script.toolUses ?? []).reduce((n, t) => n + Math.ceil(JSON.stringify(t.input).length / 4), 0);
  }

  /** The SSE events of one answer, in the order the docs give them. */
  private eventsOf(script: MessageScript, model: string, usage: CacheUsage): Array<[string, unknown]> {
    const message = { ...this.messageOf(script, model, usage), content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } };
    const events: Array<[string, unknown]> = [['message_start', { type: 'message_start', message }]];
    let index = 0;
    const texts = textOf(script);
    if (texts.length) {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }], ['ping', { type: 'ping' }]);
      for (const text of texts) events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text } }]);
      events.push(['content_block_stop', { type: 'content_block_stop', index }]);
      index += 1;
    }
    for (const [i, tool] of (script.toolUses ?? []).entries()) {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: `toolu_fake_${i}`, name: tool.name, input: {} } }]);
      for (const partial_json of pieces(JSON.stringify(tool.input), script.jsonPieceChars ?? 4)) {
        events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } }]);
      }
      events.push(['content_block_stop', { type: 'content_block_stop', index }]);
      index += 1;
    }
    const stop_reason = stopReasonOf(script);
    events.push(['message_delta', { type: 'message_delta', delta: { stop_reason, stop_sequence: null }, usage: { output_tokens: this.outputTokens(script) } }], ['message_stop', { type: 'message_stop' }]);
    return events;
  }
}
