import WebSocket from 'ws';
import type { z } from 'zod';

type Typed = { type: string };

/**
 * A WebSocket client that checks every server message against a protocol schema (the chat's or the inspector's) and
 * lets a test wait for the next message matching a type or predicate, in arrival order.
 */
export class SchemaSocket<M extends Typed> {
  readonly messages: M[] = [];
  /** Every frame as received, parsed or not (to check what never reaches the wire). */
  readonly raw: string[] = [];
  /** `performance.now()` at which each of `messages` arrived. */
  readonly receivedAt: number[] = [];
  protected cursor = 0;
  private wakeUp: (() => void) | undefined;
  private protocolError: Error | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;

  protected constructor(
    readonly socket: WebSocket,
    schema: z.ZodType<M>,
  ) {
    socket.on('message', (data) => {
      const text = String(data);
      this.raw.push(text);
      const parsed = schema.safeParse(JSON.parse(text));
      if (parsed.success) {
        this.messages.push(parsed.data);
        this.receivedAt.push(performance.now());
      } else this.protocolError ??= new Error(`server sent a message outside the protocol: ${text}\n${parsed.error.message}`);
      this.wakeUp?.();
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', (code, reason) => {
        resolve({ code, reason: String(reason) });
        this.wakeUp?.();
      }),
    );
  }

  send(message: unknown): void {
    this.sendRaw(JSON.stringify(message));
  }

  sendRaw(text: string): void {
    this.socket.send(text);
  }

  /** The next unread message that matches; unread messages before it are skipped. */
  async next<T extends M['type']>(type: T, predicate: (message: Extract<M, { type: T }>) => boolean = () => true, timeoutMs = 5_000): Promise<Extract<M, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.protocolError) throw this.protocolError;
      while (this.cursor < this.messages.length) {
        const message = this.messages[this.cursor++]!;
        if (message.type === type && predicate(message as Extract<M, { type: T }>)) return message as Extract<M, { type: T }>;
      }
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error(`socket closed while waiting for "${type}"; got ${JSON.stringify(this.messages.slice(-5))}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for "${type}"; last messages: ${JSON.stringify(this.messages.slice(-8))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  close(): Promise<{ code: number; reason: string }> {
    this.socket.close();
    return this.closed;
  }
}
