import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { WebSocket } from 'undici';
import type { AnyEventObject, InspectionEvent, MachineContext } from 'xstate';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { redactSameShape } from './redaction.js';

/** Retry delay while nothing listens at the Stately URL. */
const RECONNECT_MS = 5_000;
/** Events kept while not connected (the package's own default); older ones are dropped. */
const MAX_DEFERRED_EVENTS = 200;

/** `[inspector] stately = true`, the `--inspect` flag or `AI_RUNTIME_INSPECT=1`. */
export function statelyRequested(config: Config['inspector'], argv: readonly string[] = process.argv, env: NodeJS.ProcessEnv = process.env): boolean {
  return config.stately || argv.includes('--inspect') || env.AI_RUNTIME_INSPECT === '1';
}

/**
 * The transport of `@statelyai/inspect`'s WebSocket inspector, done again because the package's own
 * (`createWebSocketInspector`) cannot be stopped for good: after a failed connection it retries every 5 s on a timer
 * that holds the process open and ignores `stop()`. Same wire format (one JSON inspection event per frame), same
 * default URL; here retries are unref'd, stop is final, and an event that cannot be serialized is dropped.
 */
class StatelySocketAdapter {
  private socket: WebSocket | undefined;
  private open = false;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private deferred: string[] = [];
  private warned = false;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.socket?.close();
    this.socket = undefined;
    this.open = false;
    this.deferred = [];
  }

  send(event: StatelyInspectionEvent): void {
    if (this.stopped) return;
    let text: string;
    try {
      text = JSON.stringify(event);
    } catch {
      return;
    }
    if (this.open && this.socket) {
      this.socket.send(text);
      return;
    }
    this.deferred.push(text);
    if (this.deferred.length > MAX_DEFERRED_EVENTS) this.deferred.shift();
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.open = true;
      this.logger.info({ url: this.url }, 'connected to the Stately inspector');
      for (const text of this.deferred) socket.send(text);
      this.deferred = [];
    };
    socket.onerror = () => {
      if (this.warned) return;
      this.warned = true;
      this.logger.warn({ url: this.url }, `nothing listens at ${this.url} for XState inspection events; retrying every ${RECONNECT_MS / 1000} s`);
    };
    socket.onclose = () => {
      this.open = false;
      if (this.socket === socket) this.socket = undefined;
      if (this.stopped || this.retry) return;
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.connect();
      }, RECONNECT_MS);
      this.retry.unref();
    };
  }
}

/** A snapshot without its live parts (child actor refs point back at the whole system and cannot be serialized). */
function plainSnapshot(snapshot: unknown): unknown {
  if (typeof snapshot !== 'object' || snapshot === null) return snapshot;
  const { status, value, context, output } = snapshot as { status?: unknown; value?: unknown; context?: unknown; output?: unknown };
  return { status, value, context, output };
}

export interface StatelyForwarder {
  readonly forward: (event: InspectionEvent) => void;
  /** Safe to call twice. */
  close(): void;
}

/** Forwards every inspection event, content redacted, to a Stately inspector (`@statelyai/inspect/server`) at `url`. */
export function createStatelyForwarder(url: string, logger: Logger): StatelyForwarder {
  const adapter = new StatelySocketAdapter(url, logger);
  const inspector = createInspector(adapter, {
    sanitizeEvent: (event: AnyEventObject) => redactSameShape(event),
    sanitizeContext: (context: MachineContext) => redactSameShape(context),
    serialize: (event): StatelyInspectionEvent => {
      switch (event.type) {
        case '@xstate.snapshot':
          return { ...event, snapshot: plainSnapshot(event.snapshot) as typeof event.snapshot };
        case '@xstate.actor':
          return { ...event, snapshot: plainSnapshot(event.snapshot) as typeof event.snapshot };
        default:
          return event;
      }
    },
  });
  inspector.start();
  logger.info({ url }, `forwarding XState inspection events to the Stately inspector at ${url}`);
  return {
    forward: (event) => inspector.inspect.next?.(event),
    close: () => inspector.stop(),
  };
}
