import type { InspectorClientMessage, InspectorServerMessage } from '../../src/inspector/inspector-protocol.js';

export interface ConnectionEvents {
  message(message: InspectorServerMessage): void;
  /** The socket closed; `refused` when the server turned the sign-in down (its `auth_error` came first). */
  closed(info: { code: number; reason: string; refused: boolean }): void;
}

/** The inspector socket: opened on sign-in, authenticated by its first message. */
export class InspectorConnection {
  private socket: WebSocket | undefined;
  private refused = false;

  constructor(private readonly events: ConnectionEvents) {}

  open(token: string, operator: string | undefined): void {
    this.socket?.close();
    this.refused = false;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/inspector/ws`);
    this.socket = socket;
    socket.addEventListener('open', () => this.send({ type: 'auth', token, ...(operator ? { operator } : {}) }));
    socket.addEventListener('message', (event: MessageEvent<unknown>) => {
      if (typeof event.data !== 'string') return;
      const message = JSON.parse(event.data) as InspectorServerMessage;
      if (message.type === 'auth_error') this.refused = true;
      this.events.message(message);
    });
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.events.closed({ code: event.code, reason: event.reason, refused: this.refused });
    });
  }

  send(message: InspectorClientMessage): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
