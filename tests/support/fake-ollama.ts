import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { answerOf, chatRequestSchema, formatProblem, machineMicros, type ChatRequestBody, type ChatScript } from './fake-ollama-wire.js';
import { instanceOf, type JsonSchema } from './fake-json-answer.js';

export type { ChatRequestBody, ChatScript } from './fake-ollama-wire.js';

export interface RecordedChatRequest {
  body: ChatRequestBody;
  /** The client closed the connection before the final done:true chunk. */
  aborted: boolean;
  /** The complete response (final chunk, JSON reply or error) was written. */
  finished: boolean;
}

export interface FakeOllamaOptions {
  models?: string[];
  port?: number;
  /** `llama.context_length` in `/api/show`'s `model_info`: the window the models were trained with. @default 131072 */
  contextLength?: number;
}

/** A script for this request; `undefined` takes the next enqueued one. */
type Responder = (req: RecordedChatRequest, index: number) => ChatScript | undefined;
interface LiveRequest {
  record: RecordedChatRequest;
  // A socket the fake itself destroyed (drop, stop, close) is not a client abort.
  killedByServer: boolean;
  socket: Socket;
}

const DEFAULT_SCRIPT: ChatScript = { tokens: ['Hello', ' from', ' fake', ' Ollama'] };
const DEFAULT_TEXT = 'Hello from fake Ollama';
const JSON_TYPE = 'application/json; charset=utf-8';

// Ollama resolves an untagged name to ":latest", so "llama3" and "llama3:latest" are the same model.
function normalizeModel(name: string): string {
  const last = name.slice(name.lastIndexOf('/') + 1);
  return last.includes(':') ? name : `${name}:latest`;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': JSON_TYPE });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? {} : (JSON.parse(text) as unknown);
}

const DETAILS = { parent_model: '', format: 'gguf', family: 'llama', families: ['llama'], parameter_size: '8.0B', quantization_level: 'Q4_K_M' };
const MODIFIED_AT = '2025-01-01T00:00:00Z';

async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('FakeOllama: no TCP address');
  return address.port;
}

export class FakeOllama {
  readonly requests: RecordedChatRequest[] = [];
  /** TCP connections accepted so far: a client that keeps its connections alive opens few. */
  connections = 0;
  /** `/api/show` requests answered or refused. */
  showRequests = 0;
  private models: string[] = [];
  private readonly queue: ChatScript[] = [];
  private responder: Responder | undefined;
  private server: Server | undefined;
  private closedForGood = false;
  private readonly sockets = new Set<Socket>();
  private readonly live = new Set<LiveRequest>();
  private readonly waiters = new Set<() => void>();

  private constructor(readonly port: number, readonly url: string, models: string[], private readonly contextLength: number) {
    this.setModels(models);
  }

  static async start(options: FakeOllamaOptions = {}): Promise<FakeOllama> {
    const server = createServer();
    const port = await listen(server, options.port ?? 0);
    const fake = new FakeOllama(port, `http://127.0.0.1:${port}`, options.models ?? ['llama3.1:8b'], options.contextLength ?? 131_072);
    fake.attach(server);
    return fake;
  }

  enqueue(...scripts: ChatScript[]): void {
    this.queue.push(...scripts);
  }

  setResponder(fn: Responder | undefined): void {
    this.responder = fn;
  }

  setModels(models: string[]): void {
    this.models = models.map(normalizeModel);
  }

  waitForAbort(index: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => this.requests[index]?.aborted === true, timeoutMs, `abort of chat request ${index}`);
  }

  waitForRequests(n: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => this.requests.length >= n, timeoutMs, `${n} chat request(s)`);
  }

  close(): Promise<void> {
    this.closedForGood = true;
    return this.shutdown();
  }

  stop(): Promise<void> {
    return this.shutdown();
  }

  async restart(): Promise<void> {
    if (this.closedForGood) throw new Error('FakeOllama: restart() after close(); use stop() for a temporary outage');
    if (this.server !== undefined) return;
    const server = createServer();
    await listen(server, this.port);
    this.attach(server);
  }

  private attach(server: Server): void {
    // Ollama's Go server sets no idle timeout: a client's kept-alive connection lasts. Node's default closes it after 5 s
    // (and says so in a Keep-Alive header), which would make every client reconnect between bursts of requests.
    server.keepAliveTimeout = 0;
    this.server = server;
    server.on('connection', (socket: Socket) => {
      this.connections += 1;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.route(req, res).catch((err: unknown) => {
        // Real Ollama answers a malformed JSON body with 400, anything else it cannot handle with 500.
        if (!res.headersSent) sendJson(res, err instanceof SyntaxError ? 400 : 500, { error: err instanceof Error ? err.message : String(err) });
        else res.destroy();
      });
    });
  }

  private async shutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const live of this.live) live.killedByServer = true;
    const closed = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    // Keep-alive and hung streams would otherwise hold server.close() open forever.
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const settle = (error?: Error): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (error === undefined) resolve();
        else reject(error);
      };
      const check = (): void => (done() ? settle() : undefined);
      const timer = setTimeout(() => settle(new Error(`FakeOllama: timed out after ${timeoutMs}ms waiting for ${what}`)), timeoutMs);
      this.waiters.add(check);
    });
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
  }

  private hasModel(name: string): boolean {
    return this.models.includes(normalizeModel(name));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const key = `${req.method ?? 'GET'} ${path}`;
    if (key === 'GET /' || key === 'HEAD /') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Ollama is running');
    } else if (key === 'GET /api/version') {
      sendJson(res, 200, { version: '0.12.0' });
    } else if (key === 'GET /api/tags') {
      const digest = (name: string): string => createHash('sha256').update(name).digest('hex');
      const models = this.models.map((name) => ({ name, model: name, modified_at: MODIFIED_AT, size: 4_920_753_328, digest: digest(name), details: DETAILS }));
      sendJson(res, 200, { models });
    } else if (key === 'POST /api/show') {
      this.showRequests += 1;
      this.handleShow(await readJson(req), res);
    } else if (key === 'POST /api/chat') {
      await this.handleChat(req, res);
    } else {
      // Gin's default for unknown routes, which is what real Ollama sends.
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('404 page not found');
    }
  }

  private handleShow(body: unknown, res: ServerResponse): void {
    const parsed = z.object({ model: z.string().optional(), name: z.string().optional() }).safeParse(body);
    const name = parsed.success ? (parsed.data.model ?? parsed.data.name ?? '') : '';
    if (name === '') return sendJson(res, 400, { error: 'model is required' });
    if (!this.hasModel(name)) return sendJson(res, 404, { error: `model '${name}' not found` });
    sendJson(res, 200, {
      license: '',
      modelfile: `FROM ${normalizeModel(name)}\n`,
      parameters: 'stop "<|eot_id|>"',
      template: '{{ .Prompt }}',
      details: DETAILS,
      model_info: { 'general.architecture': 'llama', 'general.parameter_count': 8_030_261_248, 'llama.context_length': this.contextLength },
      capabilities: ['completion', 'tools'],
      modified_at: MODIFIED_AT,
    });
  }

  private async handleChat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = chatRequestSchema.safeParse(await readJson(req));
    if (!parsed.success) return sendJson(res, 400, { error: parsed.error.issues[0]?.message ?? 'invalid request' });
    const record: RecordedChatRequest = { body: parsed.data, aborted: false, finished: false };
    const index = this.requests.push(record) - 1;
    const live: LiveRequest = { record, killedByServer: false, socket: req.socket };
    this.live.add(live);
    const closed = new AbortController();
    // res 'close', not req 'close': the latter fires as soon as the request body has been read.
    res.once('close', () => {
      this.live.delete(live);
      closed.abort();
      if (!record.finished && !live.killedByServer) record.aborted = true;
      this.notify();
    });
    this.notify();

    const body = parsed.data;
    const { model } = body;
    if (!this.hasModel(model)) {
      record.finished = true;
      return sendJson(res, 404, { error: `model "${model}" not found, try pulling it first` });
    }
    const badFormat = formatProblem(body.format);
    if (badFormat !== undefined) {
      record.finished = true;
      return sendJson(res, 400, { error: badFormat });
    }
    // Checked after the model so an unknown-model request does not eat a queued script.
    // Unscripted, a request with a JSON Schema gets what a model decoding under it writes: an instance of the schema.
    const unscripted = typeof body.format === 'object' && body.format !== null ? { json: instanceOf(body.format as JsonSchema, DEFAULT_TEXT) } : DEFAULT_SCRIPT;
    const script = this.responder?.(record, index) ?? this.queue.shift() ?? unscripted;
    const wait = async (ms: number | undefined): Promise<boolean> => {
      if (ms !== undefined && ms > 0) await sleep(ms, undefined, { signal: closed.signal }).catch(() => undefined);
      return !closed.signal.aborted;
    };
    const kill = (): void => {
      live.killedByServer = true;
      live.socket.destroy();
    };
    if (!(await wait(script.headersDelayMs))) return;
    if (script.startWhen) {
      const aborted = new Promise((resolve) => closed.signal.addEventListener('abort', resolve, { once: true }));
      await Promise.race([script.startWhen, aborted]);
      if (closed.signal.aborted) return;
    }
    if (script.httpError !== undefined) {
      record.finished = true;
      return sendJson(res, script.httpError.status, { error: script.httpError.message });
    }

    const { tokens, doneReason } = answerOf(script);
    const toolCalls = (script.toolCalls ?? []).map((call) => ({ function: { name: call.name, arguments: call.arguments } }));
    const created_at = (): string => new Date().toISOString();
    const promptTokens = (body.messages ?? []).reduce((n, m) => n + Math.ceil((m.content ?? '').length / 4), 0);
    // Durations are nanoseconds, as in real Ollama.
    const final = { done: true, done_reason: doneReason, total_duration: 1_500_000_000, load_duration: 50_000_000,
      prompt_eval_count: promptTokens, prompt_eval_duration: 200_000_000, eval_count: tokens.length + toolCalls.length, eval_duration: 1_200_000_000 };

    if (body.stream === false) {
      if (!(await wait(script.delayMs))) return;
      if (script.dropAfterChunks !== undefined) return kill();
      if (script.hang === true) return;
      const message = { role: 'assistant', content: tokens.join(''), ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) };
      record.finished = true;
      return sendJson(res, 200, { model, created_at: created_at(), message, ...final });
    }

    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    res.flushHeaders();
    const chunks: Array<Record<string, unknown>> = tokens.map((content) => ({ role: 'assistant', content }));
    if (toolCalls.length > 0) chunks.push({ role: 'assistant', content: '', tool_calls: toolCalls });
    let sent = 0;
    // The line is made after the wait: a stamped token carries the time it is written.
    const emit = async (line: () => Record<string, unknown>, last: boolean): Promise<boolean> => {
      if (!(await wait(script.delayMs))) return false;
      if (sent === script.dropAfterChunks) {
        kill();
        return false;
      }
      sent += 1;
      record.finished = last;
      if (last) res.end(`${JSON.stringify(line())}\n`);
      else res.write(`${JSON.stringify(line())}\n`);
      return true;
    };
    const stamped = (message: Record<string, unknown>): Record<string, unknown> =>
      script.stampTokens === true ? { ...message, content: `${String(message.content)}@${machineMicros()}` } : message;
    for (const message of chunks) {
      if (!(await emit(() => ({ model, created_at: created_at(), message: stamped(message), done: false }), false))) return;
    }
    if (script.hang === true) return;
    await emit(() => ({ model, created_at: created_at(), message: { role: 'assistant', content: '' }, ...final }), true);
  }
}
