import WebSocket from 'ws';

/** Heap snapshots of a runtime mid-answer are over 100 MB of JSON; `ws` refuses frames past 100 MiB by default. */
const MAX_INSPECTOR_FRAME_BYTES = 1024 * 1024 * 1024;

/** A minimal Chrome DevTools Protocol session: requests by id, and one listener per event. */
export class InspectorSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  private readonly listeners = new Map<string, (params: Record<string, unknown>) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown> };
      if (message.id !== undefined) {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(`inspector: ${message.error.message}`));
        else waiter?.resolve(message.result);
      } else if (message.method) {
        this.listeners.get(message.method)?.(message.params ?? {});
      }
    });
    ws.on('close', () => {
      for (const waiter of this.pending.values()) waiter.reject(new Error('inspector: the session closed'));
      this.pending.clear();
    });
  }

  static async connect(url: string): Promise<InspectorSession> {
    const ws = new WebSocket(url, { maxPayload: MAX_INSPECTOR_FRAME_BYTES });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return new InspectorSession(ws);
  }

  call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  on(method: string, listener: (params: Record<string, unknown>) => void): void {
    this.listeners.set(method, listener);
  }

  close(): void {
    this.ws.close();
  }
}
