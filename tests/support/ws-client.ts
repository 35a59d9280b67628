import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';
import { ServerMessageSchema, type ServerMessage } from '../../src/protocol/protocol.js';
import { SchemaSocket } from './schema-socket.js';

type MessageOf<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;

export interface ConnectOptions {
  /** Sent as the `Origin` header, as a browser would. */
  origin?: string;
  headers?: Record<string, string>;
  /** Offered in `Sec-WebSocket-Protocol`. */
  protocols?: string[];
  /** Answer the server's pings (default true, as browsers do). */
  autoPong?: boolean;
  /** For `wss://` with a self-signed test certificate. */
  rejectUnauthorized?: boolean;
}

export interface UpgradeRefusal {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function openSocket(url: string, { origin, headers, protocols, autoPong, rejectUnauthorized }: ConnectOptions): WebSocket {
  return new WebSocket(url, protocols ?? [], {
    ...(origin !== undefined ? { origin } : {}),
    ...(headers ? { headers } : {}),
    ...(autoPong !== undefined ? { autoPong } : {}),
    ...(rejectUnauthorized !== undefined ? { rejectUnauthorized } : {}),
  });
}

/** The chat socket's test client: `SchemaSocket` on the chat protocol, plus sign-in and whole turns. */
export class TestClient extends SchemaSocket<ServerMessage> {
  private constructor(socket: WebSocket) {
    super(socket, ServerMessageSchema);
  }

  static connect(url: string, options: ConnectOptions = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = openSocket(url, options);
      socket.once('open', () => resolve(new TestClient(socket)));
      socket.once('error', reject);
    });
  }

  /** The HTTP answer to an upgrade the server refuses (403, 503, …); throws if the upgrade succeeds. */
  static refused(url: string, options: ConnectOptions = {}): Promise<UpgradeRefusal> {
    return new Promise((resolve, reject) => {
      const socket = openSocket(url, options);
      socket.once('unexpected-response', (_request, response) => {
        const body: Buffer[] = [];
        response.on('data', (data: Buffer) => body.push(data));
        response.once('end', () => {
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(body).toString('utf8') });
          socket.terminate();
        });
      });
      socket.once('open', () => {
        socket.close();
        reject(new Error(`upgrade to ${url} was accepted`));
      });
      socket.once('error', reject);
    });
  }

  /** Stops reading from the network (the server's data piles up in kernel buffers, then in its own). */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Every message from the cursor up to and including the next one of `type` (default: the end of a turn). */
  async until<T extends ServerMessage['type']>(type: T = 'done' as T, timeoutMs = 5_000): Promise<ServerMessage[]> {
    const start = this.cursor;
    await this.next(type, () => true, timeoutMs);
    return this.messages.slice(start, this.cursor);
  }

  async auth(email: string): Promise<void> {
    this.send({ type: 'auth', email });
    await this.next('auth_success');
  }

  /** Sends a chat and returns the whole turn, up to and including `done`. */
  async chat(message: string, extra: Record<string, unknown> = {}, timeoutMs = 5_000): Promise<ServerMessage[]> {
    this.send({ type: 'chat', message, ...extra });
    return this.until('done', timeoutMs);
  }
}

export function textOf(messages: readonly ServerMessage[]): string {
  return messages.flatMap((m) => (m.type === 'chunk' ? [m.text] : [])).join('');
}

export function typesOf(messages: readonly ServerMessage[]): string[] {
  return messages.map((m) => (m.type === 'state' ? `state:${m.state}` : m.type));
}
