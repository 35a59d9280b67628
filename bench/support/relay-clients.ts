/**
 * The relay benchmark's clients: one signed-in socket each, kept as light as a client can be (one `JSON.parse` per
 * frame), so that the load generator's own cost stays small next to the servers'. The same `RelayClient` drives the
 * runtime and the bare uWS relay (same frames), the Socket.IO relay (its events), and the `ollama` client alone.
 */
import { Ollama } from 'ollama';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { BENCH_MODEL, type PeerRequest } from '../peers/peer-wire.js';
import { within } from '../../tests/support/within.js';

/** One turn as its client saw it: times in ms from `performance.now()`. */
export interface TurnTimes {
  sentAt: number;
  firstChunkAt: number;
  doneAt: number;
  /** Characters of answer text received. */
  chars: number;
}

/** Each piece of answer text as it arrives (several tokens when a server merged them). */
export type TextSink = (text: string) => void;

export interface RelayClient {
  /** One turn: resolves when the answer is done, rejects on an error frame or after `timeoutMs`. */
  chat(message: string, sink: TextSink | undefined, timeoutMs: number): Promise<TurnTimes>;
  /** Drops the connection at once (no close handshake). */
  close(): void;
}

/** How long a sign-in may take before the benchmark gives up. */
const AUTH_TIMEOUT_MS = 30_000;

interface PendingTurn {
  times: TurnTimes;
  sink: TextSink | undefined;
  resolve: (times: TurnTimes) => void;
  reject: (error: Error) => void;
}

/** Time keeping shared by both socket clients: one turn at a time per socket. */
class TurnTracker {
  private turn: PendingTurn | undefined;

  start(sink: TextSink | undefined, send: () => void, timeoutMs: number, who: string): Promise<TurnTimes> {
    if (this.turn) return Promise.reject(new Error(`${who}: a turn is already running on this socket`));
    const done = new Promise<TurnTimes>((resolve, reject) => {
      this.turn = { times: { sentAt: performance.now(), firstChunkAt: 0, doneAt: 0, chars: 0 }, sink, resolve, reject };
    });
    send();
    return within(done, timeoutMs, () => `${who}: no end of the answer`).finally(() => (this.turn = undefined));
  }

  text(text: string): void {
    const turn = this.turn;
    if (!turn) return;
    if (turn.times.firstChunkAt === 0) turn.times.firstChunkAt = performance.now();
    turn.times.chars += text.length;
    turn.sink?.(text);
  }

  done(): void {
    const turn = this.turn;
    if (!turn) return;
    turn.times.doneAt = performance.now();
    turn.resolve(turn.times);
  }

  fail(message: string): void {
    this.turn?.reject(new Error(message));
  }
}

/** The runtime's chat socket and the bare uWS relay: `auth`, `chat`, then `chunk` frames up to `done`. */
export class WsRelayClient implements RelayClient {
  private readonly turns = new TurnTracker();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; text?: string; message?: string };
      if (message.type === 'chunk') this.turns.text(message.text!);
      else if (message.type === 'done') this.turns.done();
      else if (message.type === 'error') this.turns.fail(`the server answered an error: ${message.message}`);
    });
    // A socket the server drops fails the turn at once rather than at its timeout.
    ws.on('close', (code) => this.turns.fail(`the socket closed (${code})`));
  }

  static async connect(url: string, email: string): Promise<WsRelayClient> {
    const ws = new WebSocket(url);
    ws.on('error', () => undefined);
    const signedIn = new Promise<WsRelayClient>((resolve, reject) => {
      ws.once('error', reject);
      ws.once('close', (code) => reject(new Error(`closed (${code}) before signing in`)));
      ws.once('open', () => {
        ws.once('message', (data) => {
          const reply = JSON.parse(String(data)) as { type: string };
          if (reply.type === 'auth_success') resolve(new WsRelayClient(ws));
          else reject(new Error(`sign-in answered ${String(data)}`));
        });
        ws.send(JSON.stringify({ type: 'auth', email } satisfies PeerRequest));
      });
    });
    return within(signedIn, AUTH_TIMEOUT_MS, () => `signing in ${email} at ${url}`).catch((error: unknown) => {
      ws.terminate();
      throw error;
    });
  }

  chat(message: string, sink: TextSink | undefined, timeoutMs: number): Promise<TurnTimes> {
    return this.turns.start(sink, () => this.ws.send(JSON.stringify({ type: 'chat', message } satisfies PeerRequest)), timeoutMs, 'a WebSocket client');
  }

  close(): void {
    this.ws.removeAllListeners('close');
    this.ws.terminate();
  }
}

/** The Socket.IO relay's client: WebSocket transport only, no reconnection, a connection (Manager) of its own. */
export class SocketIoRelayClient implements RelayClient {
  private readonly turns = new TurnTracker();

  private constructor(private readonly socket: Socket) {
    socket.on('chunk', (text: string) => this.turns.text(text));
    socket.on('done', () => this.turns.done());
    socket.on('relay_error', (message: string) => this.turns.fail(`the server answered an error: ${message}`));
    socket.on('disconnect', (reason) => this.turns.fail(`disconnected (${reason})`));
  }

  static async connect(url: string, email: string): Promise<SocketIoRelayClient> {
    const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: AUTH_TIMEOUT_MS });
    const signedIn = new Promise<SocketIoRelayClient>((resolve, reject) => {
      socket.once('connect_error', reject);
      socket.once('connect', () => {
        socket.once('auth_success', () => resolve(new SocketIoRelayClient(socket)));
        socket.emit('auth', email);
      });
    });
    return within(signedIn, AUTH_TIMEOUT_MS, () => `signing in ${email} at ${url}`).catch((error: unknown) => {
      socket.disconnect();
      throw error;
    });
  }

  chat(message: string, sink: TextSink | undefined, timeoutMs: number): Promise<TurnTimes> {
    return this.turns.start(sink, () => this.socket.emit('chat', message), timeoutMs, 'a Socket.IO client');
  }

  close(): void {
    this.socket.off('disconnect');
    this.socket.disconnect();
  }
}

/** The baseline: the official `ollama` client streaming from the fake itself, no server in between. */
export class DirectClient implements RelayClient {
  constructor(private readonly ollama: Ollama) {}

  async chat(message: string, sink: TextSink | undefined, timeoutMs: number): Promise<TurnTimes> {
    const times: TurnTimes = { sentAt: performance.now(), firstChunkAt: 0, doneAt: 0, chars: 0 };
    const turn = async () => {
      const stream = await this.ollama.chat({ model: BENCH_MODEL, messages: [{ role: 'user', content: message }], stream: true });
      for await (const part of stream) {
        const text = part.message.content;
        if (!text) continue;
        if (times.firstChunkAt === 0) times.firstChunkAt = performance.now();
        times.chars += text.length;
        sink?.(text);
      }
      times.doneAt = performance.now();
      return times;
    };
    return within(turn(), timeoutMs, () => 'the ollama client: no end of the answer');
  }

  close(): void {}
}

/** Sockets opened at once: a server's accept queue and sign-in are not what is measured. */
const OPEN_BATCH = 100;

/** `count` signed-in clients, opened `OPEN_BATCH` at a time; `connect(i)` opens the i-th. */
export async function openClients(count: number, connect: (i: number) => Promise<RelayClient>): Promise<RelayClient[]> {
  const opened: RelayClient[] = [];
  for (let i = 0; i < count; i += OPEN_BATCH) {
    const batch = Array.from({ length: Math.min(OPEN_BATCH, count - i) }, (_, j) => connect(i + j));
    opened.push(...(await Promise.all(batch)));
  }
  return opened;
}
