import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { chatRequestSchema, checkToolPairs, completionOf, responseFormatProblem, streamChunksOf, type ChatRequestBody } from './fake-openai-wire.js';
import type { JsonAnswerScript } from './fake-json-answer.js';
import { ChangeWaiters } from './change-waiters.js';

/**
 * A Chat Completions server over real HTTP, written from OpenAI's public API reference: SSE `chat.completion.chunk`s
 * ending in `data: [DONE]`, tool calls split over deltas, the usage chunk, and errors as `{"error":{…}}`.
 */

export interface OpenAiScript extends JsonAnswerScript {
  /** Content pieces, one chunk each. A `json` answer takes their place. */
  tokens?: string[];
  /** Streamed after the tokens: id and name in one delta, then `arguments` in fragments of `fragmentChars`. */
  toolCalls?: Array<{ name: string; arguments: Record<string, unknown> | string }>;
  /** Size of each `arguments` fragment (default 4): small, so every call is spread over many deltas. */
  fragmentChars?: number;
  /** Default "stop", or "tool_calls" when there are tool calls, or "length" for a `json` answer cut by `truncateJsonAt`. */
  finishReason?: string;
  /** Delay before each chunk, ms (default 0). Non-streaming replies wait it once. */
  delayMs?: number;
  /** Delay before the response headers, ms. */
  headersDelayMs?: number;
  /** Keep the stream open after the last content chunk, sending no finish (until the client goes away). */
  hang?: boolean;
  /** Answer with this status and OpenAI's error body instead. */
  httpError?: { status: number; message: string; type?: string; code?: string | null; retryAfter?: string };
}

export interface RecordedOpenAiRequest {
  body: ChatRequestBody;
  /** The `Authorization` header as sent, if any. */
  authorization: string | undefined;
  /** The client closed the connection before the response was complete. */
  aborted: boolean;
  finished: boolean;
}

export interface FakeOpenAiOptions {
  models?: string[];
  /** When set, requests must carry `Authorization: Bearer <apiKey>` (else 401), as OpenAI does; vLLM does not by default. */
  apiKey?: string;
  /** Answer `GET /v1/models` (default true); false behaves like servers that lack the endpoint (404). */
  listModels?: boolean;
  /** vLLM's `max_model_len` on each `/v1/models` entry (the window it serves); unset, entries have none, as OpenAI's. */
  maxModelLen?: number;
}

const DEFAULT_SCRIPT: OpenAiScript = { tokens: ['Hello', ' from', ' fake', ' OpenAI'] };

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, message: string, type = 'invalid_request_error', code: string | null = null, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { message, type, param: null, code } }, headers);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export class FakeOpenAi {
  readonly requests: RecordedOpenAiRequest[] = [];
  /** Streaming responses started, and those that have since closed (finished or cut): proof that cancel reaches HTTP. */
  streamsOpened = 0;
  streamsClosed = 0;
  private readonly queue: OpenAiScript[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly changes = new ChangeWaiters('FakeOpenAi');

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: Required<Pick<FakeOpenAiOptions, 'models' | 'listModels'>> & FakeOpenAiOptions,
  ) {}

  static async start(options: FakeOpenAiOptions = {}): Promise<FakeOpenAi> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('FakeOpenAi: no TCP address');
    const fake = new FakeOpenAi(server, `http://127.0.0.1:${address.port}`, { models: ['gpt-test'], listModels: true, ...options });
    server.on('connection', (socket: Socket) => {
      fake.sockets.add(socket);
      socket.once('close', () => fake.sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      fake.route(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendError(res, 500, err instanceof Error ? err.message : String(err), 'server_error');
        else res.destroy();
      });
    });
    return fake;
  }

  enqueue(...scripts: OpenAiScript[]): void {
    this.queue.push(...scripts);
  }

  get openStreams(): number {
    return this.streamsOpened - this.streamsClosed;
  }

  waitForRequests(n: number, timeoutMs = 5000): Promise<void> {
    return this.changes.waitFor(() => this.requests.length >= n, `${n} request(s)`, timeoutMs);
  }

  waitForAbort(index: number, timeoutMs = 5000): Promise<void> {
    return this.changes.waitFor(() => this.requests[index]?.aborted === true, `abort of request ${index}`, timeoutMs);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Keep-alive and hung streams would otherwise hold server.close() open forever.
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const key = `${req.method ?? 'GET'} ${new URL(req.url ?? '/', 'http://x').pathname}`;
    const { apiKey } = this.options;
    if (apiKey !== undefined) {
      const auth = req.headers.authorization;
      if (auth === undefined) return sendError(res, 401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
      // OpenAI quotes the start and end of a wrong key: the client must not pass this message on.
      const given = auth.replace(/^Bearer /, '');
      if (given !== apiKey) return sendError(res, 401, `Incorrect API key provided: ${given.slice(0, 3)}****${given.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key');
    }
    if (key === 'GET /v1/models' && this.options.listModels) {
      const { maxModelLen } = this.options;
      const data = this.options.models.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'fake', ...(maxModelLen === undefined ? {} : { root: id, parent: null, max_model_len: maxModelLen }) }));
      return sendJson(res, 200, { object: 'list', data });
    }
    if (key === 'POST /v1/chat/completions') return this.handleChat(req, res);
    sendError(res, 404, `Invalid URL (${key})`);
  }

  private async handleChat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(await readBody(req));
    } catch {
      return sendError(res, 400, 'We could not parse the JSON body of your request.');
    }
    const parsed = chatRequestSchema.safeParse(json);
    if (!parsed.success) return sendError(res, 400, `Invalid request: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
    const body = parsed.data;
    const record: RecordedOpenAiRequest = { body, authorization: req.headers.authorization, aborted: false, finished: false };
    this.requests.push(record);
    const closed = new AbortController();
    const streaming = body.stream === true;
    if (streaming) this.streamsOpened += 1;
    // res 'close', not req 'close': the latter fires as soon as the request body has been read.
    res.once('close', () => {
      closed.abort();
      if (streaming) this.streamsClosed += 1;
      if (!record.finished) record.aborted = true;
      this.changes.notify();
    });
    this.changes.notify();

    if (!streaming && body.stream_options != null) return this.finish(record, () => sendError(res, 400, "The 'stream_options' parameter is only allowed when 'stream' is enabled."));
    const pairing = checkToolPairs(body.messages);
    if (pairing !== undefined) return this.finish(record, () => sendError(res, 400, pairing));
    const badFormat = responseFormatProblem(body);
    if (badFormat !== undefined) return this.finish(record, () => sendError(res, 400, badFormat, 'invalid_request_error', null));
    if (!this.options.models.includes(body.model)) {
      return this.finish(record, () => sendError(res, 404, `The model \`${body.model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found'));
    }
    const script = this.queue.shift() ?? DEFAULT_SCRIPT;
    const wait = async (ms: number | undefined): Promise<boolean> => {
      if (ms !== undefined && ms > 0) await sleep(ms, undefined, { signal: closed.signal }).catch(() => undefined);
      return !closed.signal.aborted;
    };
    if (!(await wait(script.headersDelayMs))) return;
    if (script.httpError !== undefined) {
      const { status, message, type, code, retryAfter } = script.httpError;
      const errorType = type ?? (status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error');
      return this.finish(record, () => sendError(res, status, message, errorType, code ?? null, retryAfter === undefined ? {} : { 'Retry-After': retryAfter }));
    }
    if (!streaming) {
      if (!(await wait(script.delayMs))) return;
      return this.finish(record, () => sendJson(res, 200, completionOf(body, script)));
    }

    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.flushHeaders();
    const { chunks, tail } = streamChunksOf(body, script, `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 24)}`);
    for (const chunk of chunks) {
      if (!(await wait(script.delayMs))) return;
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    }
    if (script.hang === true) return;
    for (const chunk of tail) {
      if (!(await wait(script.delayMs))) return;
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    }
    this.finish(record, () => res.end('data: [DONE]\n\n'));
  }

  private finish(record: RecordedOpenAiRequest, send: () => void): void {
    record.finished = true;
    send();
  }
}

export type { ChatRequestBody } from './fake-openai-wire.js';
