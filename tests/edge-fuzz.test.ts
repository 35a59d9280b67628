import { writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { INSPECTOR_SOCKET_PATH } from '../src/inspector/create-inspector.js';
import { InspectorClientMessageSchemas, InspectorServerMessageSchema } from '../src/inspector/inspector-protocol.js';
import { MAX_QUEUED_MESSAGES } from '../src/server/connection-state.js';
import { ClientMessageSchemas, ServerMessageSchema } from '../src/protocol/protocol.js';
import { FrameKind, frameCase, type FrameCase } from './support/edge-fuzz-frames.js';
import { HttpKind, httpCases } from './support/edge-fuzz-http.js';
import { seededRng, type Rng } from './support/edge-fuzz-rng.js';
import { captureLogs } from './support/log-capture.js';
import { RAW_CASES, type RawCase } from './support/edge-fuzz-raw.js';
import { rawRequest } from './support/raw-http.js';
import { TEST_WEBHOOK_SECRET, TestRuntime } from './support/runtime-harness.js';
import { textOf } from './support/ws-client.js';

/** Replay a failing run with `FUZZ_SEED=<seed printed by the failing run>`. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_128);
const HTTP_REQUESTS = 10_000;
/** Requests in flight at once, over a few kept-alive connections. */
const HTTP_CONCURRENCY = 16;
const HTTP_CONNECTIONS = 8;
/** Frames per socket: an unsigned-in chat socket, a signed-in one, an unsigned-in inspector socket. */
const FRAMES = { chatAnonymous: 4_000, chatSignedIn: 3_500, inspector: 2_500 } as const;
/**
 * Frames sent between two `ping`s: the `pong` says every frame before it was handled. Under the per-socket queue bound,
 * so that the `ping` itself is never refused as one frame too many.
 */
const FRAME_BATCH = MAX_QUEUED_MESSAGES / 2;
/** Sockets that each send one frame over `max_payload_bytes`. */
const OVERSIZE_SOCKETS = 5;
const MAX_PAYLOAD_BYTES = 64 * 1024;
const ADMIN_TOKEN = 'edge-fuzz-admin-token-of-32-chars';
const ALLOWED_ORIGIN = 'https://app.example.com';

/**
 * Every status the edge may answer a hostile request with. A 500 is a bug; 503 is "summaries off" (no Redis here), 501
 * "no mail server" (`/api/mail/account`), 415 a mailbox connection that is not JSON.
 */
const PROPER_STATUSES = new Set([200, 202, 204, 400, 401, 403, 404, 405, 413, 415, 429, 431, 501, 503]);
/** Statuses our own code writes, always with a JSON `{status: "error"}` body (431 is uWS's, in HTML). */
const JSON_ERROR_STATUSES = new Set([400, 401, 404, 405, 413, 415, 429, 501, 503]);

const ROOMY_BUDGET = { points: 1_000_000, duration_s: 60 };
const PER_IP_AND_USER_SCOPES = ['chat_per_ip', 'chat_per_user', 'messages_per_ip', 'messages_per_user', 'conversations_per_ip', 'conversations_per_user', 'auth_per_ip'] as const;

type Counts = Record<string, number>;

function count(counts: Counts, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

async function fuzzHttp(rt: TestRuntime, rng: Rng): Promise<{ byStatus: Counts; byKind: Counts; byRoute: Record<string, Counts>; failures: string[] }> {
  const cases = httpCases(rng, HTTP_REQUESTS, { adminToken: ADMIN_TOKEN, webhookSecret: TEST_WEBHOOK_SECRET, user: 'fuzz-http@example.com', allowedOrigin: ALLOWED_ORIGIN }, rt.runtime.routes);
  const pool = new Pool(rt.httpUrl, { connections: HTTP_CONNECTIONS, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const byStatus: Counts = {};
  const byKind: Counts = {};
  /** Statuses by the route-table key a case aimed at. */
  const byRoute: Record<string, Counts> = {};
  const failures: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const index = next++;
      const c = cases[index]!;
      const label = `#${index} ${c.kind} ${c.method} ${c.path.slice(0, 80)}`;
      const routeCounts = c.route ? (byRoute[c.route] ??= {}) : {};
      try {
        const answer = await pool.request({ method: c.method, path: c.path, headers: c.headers, ...(c.body ? { body: c.body } : {}) });
        const text = await answer.body.text();
        count(byStatus, String(answer.statusCode));
        count(byKind, `${c.kind} ${answer.statusCode}`);
        count(routeCounts, String(answer.statusCode));
        if (!PROPER_STATUSES.has(answer.statusCode)) failures.push(`${label}: ${answer.statusCode} ${text.slice(0, 200)}`);
        else if (c.kind === HttpKind.MalformedParam && answer.statusCode !== 400) failures.push(`${label}: ${answer.statusCode} for a malformed parameter`);
        else if (JSON_ERROR_STATUSES.has(answer.statusCode) && c.method !== 'HEAD' && (JSON.parse(text) as { status?: unknown }).status !== 'error') failures.push(`${label}: ${answer.statusCode} without a JSON error body`);
      } catch (error) {
        count(byStatus, 'dropped');
        count(byKind, `${c.kind} dropped`);
        count(routeCounts, 'dropped');
        failures.push(`${label}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: HTTP_CONCURRENCY }, worker));
  await pool.close();
  return { byStatus, byKind, byRoute, failures };
}

async function fuzzRaw(port: number): Promise<{ byOutcome: Counts; failures: string[] }> {
  const byOutcome: Counts = {};
  const failures: string[] = [];
  const run = async (raw: RawCase): Promise<void> => {
    const answer = await rawRequest(port, raw.request, { halfClose: raw.halfClose ?? false }).catch((error: Error) => ({ status: -1, head: error.message }));
    const outcome = answer.status === 0 ? 'closed' : answer.status === -1 ? 'hung' : String(answer.status);
    count(byOutcome, `${raw.name} ${outcome}`);
    if (answer.status === 0 ? !raw.mayClose : answer.status < 100 || answer.status === 500) failures.push(`${raw.name}: ${outcome} ${answer.head.slice(0, 100)}`);
  };
  for (let i = 0; i < RAW_CASES.length; i += HTTP_CONCURRENCY) await Promise.all(RAW_CASES.slice(i, i + HTTP_CONCURRENCY).map(run));
  return { byOutcome, failures };
}

interface SocketRun {
  /** Replies by type, and `error:<code>` for errors. */
  replies: Counts;
  sent: Counts;
  errors: number;
  stillOpen: boolean;
}

/**
 * Sends `total` generated frames in batches, each followed by a `ping`; every reply must parse against `schema`.
 * Returns once the last `pong` is in.
 */
async function fuzzSocket(url: string, rng: Rng, total: number, types: readonly string[], schema: z.ZodType<{ type: string; code?: string }>, signIn?: string): Promise<SocketRun> {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const run: SocketRun = { replies: {}, sent: {}, errors: 0, stillOpen: false };
  let waiting: { type: string; resolve: () => void } | undefined;
  const invalid: string[] = [];
  socket.on('message', (data) => {
    const parsed = schema.safeParse(JSON.parse(String(data)));
    if (!parsed.success) return void invalid.push(String(data).slice(0, 200));
    const message = parsed.data;
    if (message.type === 'error') run.errors++;
    count(run.replies, message.type === 'error' ? `error:${message.code}` : message.type);
    if (waiting?.type === message.type) waiting.resolve();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const expect = (type: string): Promise<void> =>
    Promise.race([
      new Promise<void>((resolve) => (waiting = { type, resolve })),
      closed.then(() => Promise.reject(new Error(`${url}: closed while waiting for "${type}"`))),
    ]);
  if (signIn) {
    const signedIn = expect('auth_success');
    socket.send(JSON.stringify({ type: 'auth', email: signIn }));
    await signedIn;
  }
  for (let sent = 0; sent < total; ) {
    const batch = Math.min(FRAME_BATCH, total - sent);
    for (let i = 0; i < batch; i++) {
      const frame: FrameCase = frameCase(rng, { types, maxBytes: MAX_PAYLOAD_BYTES });
      count(run.sent, frame.kind);
      socket.send(frame.data, { binary: frame.binary });
    }
    sent += batch;
    const pong = expect('pong');
    socket.send(JSON.stringify({ type: 'ping' }));
    await pong;
  }
  if (invalid.length > 0) throw new Error(`${url}: replies outside the protocol: ${invalid.slice(0, 3).join(' | ')}`);
  run.stillOpen = socket.readyState === WebSocket.OPEN;
  socket.close();
  await closed;
  return run;
}

/** One frame over `max_payload_bytes`: uWS drops that connection (RFC 6455 allows closing on a too-big message). */
async function oversize(url: string): Promise<number> {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  socket.send(JSON.stringify({ type: 'chat', message: 'x'.repeat(MAX_PAYLOAD_BYTES) }));
  return closed;
}

function typesBut(schemas: Record<string, unknown>, excluded: readonly string[]): string[] {
  return Object.keys(schemas).filter((type) => !excluded.includes(type));
}

describe('the edge under generated hostile traffic', () => {
  const logs = captureLogs('error');
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await TestRuntime.start({
      mcp: false,
      logger: logs.logger,
      config: {
        admin: { token: ADMIN_TOKEN },
        // The raw cases say `Host: x`: allowed, so that they reach the routes rather than stop at the Host check.
        server: { allowed_origins: [ALLOWED_ORIGIN], allowed_hosts: ['x'], trust_proxy: 1, max_payload_bytes: MAX_PAYLOAD_BYTES },
        // Every fuzzing socket and the closing chat share one address: the budgets must outlast the storm, which tests
        // what the edge makes of each frame (the budgets have their own tests).
        rate_limits: Object.fromEntries(PER_IP_AND_USER_SCOPES.map((scope) => [scope, ROOMY_BUDGET])),
      },
    });
  });
  afterAll(() => rt.close());

  it(`answers ${HTTP_REQUESTS} requests and ${Object.values(FRAMES).reduce((a, b) => a + b, 0)} frames properly, then serves a normal chat (seed ${SEED})`, { timeout: 180_000 }, async () => {
    const rng = seededRng(SEED);
    const started = Date.now();
    const inspectorUrl = `${rt.wsUrl.replace(/\/ws$/, '')}${INSPECTOR_SOCKET_PATH}`;
    const [http, raw, anonymous, signedIn, inspector, oversizeCodes] = await Promise.all([
      fuzzHttp(rt, seededRng(rng.int(2 ** 31))),
      fuzzRaw(rt.runtime.port),
      fuzzSocket(rt.wsUrl, seededRng(rng.int(2 ** 31)), FRAMES.chatAnonymous, typesBut(ClientMessageSchemas, ['auth', 'ping']), ServerMessageSchema),
      fuzzSocket(rt.wsUrl, seededRng(rng.int(2 ** 31)), FRAMES.chatSignedIn, typesBut(ClientMessageSchemas, ['ping']), ServerMessageSchema, 'fuzz@example.com'),
      fuzzSocket(inspectorUrl, seededRng(rng.int(2 ** 31)), FRAMES.inspector, typesBut(InspectorClientMessageSchemas, ['auth', 'ping']), InspectorServerMessageSchema),
      Promise.all(Array.from({ length: OVERSIZE_SOCKETS }, (_, i) => oversize(i % 2 === 0 ? rt.wsUrl : inspectorUrl))),
    ]);

    const client = await rt.client('after-the-storm@example.com');
    expect(textOf(await client.chat('are you still there?'))).toBe('Hello from fake Ollama');
    await client.close();
    expect((await fetch(`${rt.httpUrl}/health`)).status).toBe(200);

    const report = {
      seed: SEED,
      seconds: (Date.now() - started) / 1000,
      http: { requests: HTTP_REQUESTS, routes: rt.runtime.routes.length, byStatus: http.byStatus, byKind: http.byKind, byRoute: http.byRoute },
      raw: { requests: RAW_CASES.length, byOutcome: raw.byOutcome },
      frames: {
        chatAnonymous: { sent: anonymous.sent, replies: anonymous.replies },
        chatSignedIn: { sent: signedIn.sent, replies: signedIn.replies },
        inspector: { sent: inspector.sent, replies: inspector.replies },
        oversizeCloseCodes: oversizeCodes,
      },
    };
    console.log(`edge fuzz report\n${JSON.stringify(report, null, 2)}`);
    if (process.env.FUZZ_REPORT) writeFileSync(process.env.FUZZ_REPORT, JSON.stringify(report, null, 2));

    expect(http.failures.slice(0, 20)).toEqual([]);
    expect(raw.failures).toEqual([]);
    // Sockets not signed in answer every frame with exactly one error, and every socket stays open.
    expect(anonymous.errors).toBe(FRAMES.chatAnonymous);
    expect(inspector.errors).toBe(FRAMES.inspector);
    expect([anonymous.stillOpen, signedIn.stillOpen, inspector.stillOpen]).toEqual([true, true, true]);
    expect(signedIn.errors).toBeGreaterThan(0);
    expect(oversizeCodes.every((code) => code === 1006)).toBe(true);
    expect(logs.lines.filter((line) => line.msg === 'unexpected error at the edge' || line.msg === 'unexpected error handling a message')).toEqual([]);
    // Every route the runtime serves was aimed at (the list comes from its route table, so a new route is in it).
    expect(Object.keys(http.byRoute).sort()).toEqual([...rt.runtime.routes].sort());
    // Every kind was generated.
    for (const kind of Object.values(HttpKind)) expect(Object.keys(http.byKind).some((key) => key.startsWith(`${kind} `)), kind).toBe(true);
    for (const kind of Object.values(FrameKind)) expect(anonymous.sent[kind] ?? 0, kind).toBeGreaterThan(0);
  });
});
