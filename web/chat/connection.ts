import type { ClientMessage, ServerMessage } from './protocol-types.ts';

export type LinkStatus = 'connected' | 'reconnecting' | 'offline';

export interface LinkHandlers {
  open(): void;
  message(message: ServerMessage): void;
  status(status: LinkStatus): void;
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;
const PING_EVERY_MS = 10_000;
// A dropped network often closes nothing: silence this long means the socket is dead even if it looks open.
const SILENCE_LIMIT_MS = 25_000;

/** One WebSocket at a time, replaced with exponential backoff whenever it closes or goes silent. */
export class Connection {
  private socket: WebSocket | undefined;
  private attempt = 0;
  private retryTimer: number | undefined;
  private lastHeard = 0;

  constructor(
    private readonly url: string,
    private readonly handlers: LinkHandlers,
  ) {}

  start(): void {
    addEventListener('online', () => {
      this.retryNow();
      this.report();
    });
    addEventListener('offline', () => this.report());
    setInterval(() => this.heartbeat(), PING_EVERY_MS);
    this.connect();
  }

  get open(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  send(message: ClientMessage): boolean {
    if (!this.socket || !this.open) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  private connect(): void {
    this.retryTimer = undefined;
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.lastHeard = Date.now();
      this.report();
      this.handlers.open();
    };
    socket.onmessage = (event: MessageEvent<string>) => {
      this.lastHeard = Date.now();
      this.handlers.message(JSON.parse(event.data) as ServerMessage);
    };
    socket.onclose = () => this.dropped(socket);
  }

  private dropped(socket: WebSocket): void {
    if (socket !== this.socket) return;
    socket.onopen = socket.onmessage = socket.onclose = null;
    this.socket = undefined;
    this.report();
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.attempt);
    this.attempt += 1;
    // Jitter spreads out the reconnects of many tabs after a server restart.
    this.retryTimer = setTimeout(() => this.connect(), delay * (0.75 + Math.random() * 0.5));
  }

  private retryNow(): void {
    if (this.retryTimer === undefined) return;
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.connect();
  }

  private heartbeat(): void {
    const socket = this.socket;
    if (!socket || !this.open) return;
    if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
      // Closing a dead socket can take minutes to confirm; forget it now and reconnect.
      this.dropped(socket);
      socket.close();
      return;
    }
    this.send({ type: 'ping' });
  }

  private report(): void {
    this.handlers.status(!navigator.onLine ? 'offline' : this.open ? 'connected' : 'reconnecting');
  }
}
