import { TextBuilder } from '../conversations/text-builder.js';

/** What the outbox needs from a socket; uWS stays in `ws-server.ts`. */
export interface OutboxSocket {
  send(message: string): void;
  /** Bytes the socket has accepted but not yet written to the network. */
  bufferedAmount(): number;
  close(code: number, reason: string): void;
}

/** Close code for a client that reads too slowly; its conversation goes on and it can `resume`. */
export const SLOW_CONSUMER_CLOSE_CODE = 4008;

const CHUNK_PREFIX = '{"type":"chunk",';

interface ChunkEvent {
  type: 'chunk';
  conversation_id: string;
  seq: number;
  text: string;
}

/**
 * Consecutive chunks of one conversation merged while they wait. The text is gathered in a `TextBuilder` and the
 * chunk serialized once, when the run is sent: re-serializing it at every token would cost time quadratic in the
 * backlog, and an array of the tokens (8 bytes a slot, more for the strings) would cost several times the bytes
 * counted here for model-sized tokens of 4 characters.
 */
interface ChunkRun {
  /** The latest chunk of the run (its `seq` is the one sent); its `text` is superseded by `text` here. */
  last: ChunkEvent;
  text: TextBuilder;
  /** The run's size as counted in the outbox: the first chunk's frame plus each later text as JSON escapes it. */
  bytes: number;
}

type Waiting = string | ChunkRun;

/** A message's size on the wire, as the socket will count it. */
function wireBytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * Everything sent to one chat socket passes here, in order. While the client keeps up, a message goes straight to the
 * socket. Once the socket holds `softLimitBytes` unsent, messages wait here instead, and consecutive chunks of one
 * conversation merge into one (joined text, the last `seq`), so a slow reader gets fewer, larger frames rather than a
 * gap. Past `hardLimitBytes` (socket, counted up to the soft limit, plus outbox) the socket is closed with 4008: the
 * server never buffers without bound (at most the hard limit plus the largest single message).
 */
export class SocketOutbox {
  /** Waiting messages are `waiting[head…]`; the consumed prefix is dropped in bulk, not shifted one by one. */
  private waiting: Waiting[] = [];
  private head = 0;
  private waitingBytes = 0;
  private closed = false;
  /** Chunks merged into an earlier one since the socket opened (tests and metrics read it). */
  coalesced = 0;

  constructor(
    private readonly socket: OutboxSocket,
    private readonly softLimitBytes: number,
    private readonly hardLimitBytes: number,
  ) {}

  /** Bytes waiting here, not yet handed to the socket. */
  get queuedBytes(): number {
    return this.waitingBytes;
  }

  /** Whether the outbox gave up on the socket (closed it, or the socket went away). */
  get isClosed(): boolean {
    return this.closed;
  }

  send(message: string): void {
    if (this.closed) return;
    if (this.head === this.waiting.length && this.socket.bufferedAmount() < this.softLimitBytes) {
      this.socket.send(message);
      return;
    }
    this.enqueue(message);
    // The socket's buffer counts up to the soft limit only: beyond it lies one large message sent whole (a long
    // history), which is not slowness. Counting it would close a client that reads fine at its next event, and
    // again after every resume of that conversation.
    if (Math.min(this.socket.bufferedAmount(), this.softLimitBytes) + this.waitingBytes > this.hardLimitBytes) {
      this.discard();
      this.socket.close(SLOW_CONSUMER_CLOSE_CODE, 'slow consumer: reconnect and resume with last_seq');
    }
  }

  /** uWS `drain`: the socket wrote some of its buffer; hand it more while it stays under the soft limit. */
  drain(): void {
    while (!this.closed && this.head < this.waiting.length && this.socket.bufferedAmount() < this.softLimitBytes) {
      const next = this.waiting[this.head]!;
      this.waiting[this.head] = '';
      this.head += 1;
      if (typeof next === 'string') {
        this.waitingBytes -= wireBytes(next);
        this.socket.send(next);
      } else {
        this.waitingBytes -= next.bytes;
        this.socket.send(JSON.stringify({ ...next.last, text: next.text.toString() }));
      }
    }
    if (this.head === this.waiting.length && this.head > 0) {
      this.waiting = [];
      this.head = 0;
    }
  }

  /** The socket is gone: drop what waits. */
  discard(): void {
    this.closed = true;
    this.waiting = [];
    this.head = 0;
    this.waitingBytes = 0;
  }

  private enqueue(message: string): void {
    const index = this.waiting.length - 1;
    const previous = index >= this.head ? this.waiting[index] : undefined;
    if (previous !== undefined && message.startsWith(CHUNK_PREFIX)) {
      // Only on this slow path is a chunk parsed: the new one, and the one before it when it starts a run.
      const run = typeof previous === 'string' ? (previous.startsWith(CHUNK_PREFIX) ? toRun(previous) : undefined) : previous;
      const later = run && (JSON.parse(message) as ChunkEvent);
      if (run && later && later.conversation_id === run.last.conversation_id) {
        const grown = wireBytes(JSON.stringify(later.text)) - 2;
        run.last = later;
        run.text.append(later.text);
        run.bytes += grown;
        this.waitingBytes += grown;
        this.waiting[index] = run;
        this.coalesced += 1;
        return;
      }
    }
    this.waiting.push(message);
    this.waitingBytes += wireBytes(message);
  }
}

function toRun(message: string): ChunkRun {
  const first = JSON.parse(message) as ChunkEvent;
  const text = new TextBuilder();
  text.append(first.text);
  return { last: first, text, bytes: wireBytes(message) };
}
