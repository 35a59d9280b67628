import { z } from 'zod';
import { ConversationState } from '../machines/conversation-machine.js';
import type { UnnumberedEvent } from '../protocol/protocol.js';
import type { StreamEvent } from './conversation-streams.js';
import { TextBuilder } from './text-builder.js';

/** Where numbered events go: in the server, uWS pub/sub topics; in tests, anything that records. */
export interface Publisher {
  publish(topic: string, message: string): void;
  /** Writes what is gathered for the topic's sockets now, rather than at the end of this event-loop turn. */
  flush?(topic: string): void;
  /** Whether any socket of this node is subscribed to the topic (nodes sharing conversations follow only those). */
  watched?(topic: string): boolean;
}

export function conversationTopic(conversationId: string): string {
  return `conversation:${conversationId}`;
}

/** Where a node's numbered events go for the other nodes (a Redis Stream); `turnBoundary` marks a non-chunk event. */
export type EventSink = (event: StreamEvent, turnBoundary: boolean) => void;

/** Only what the channel needs from an event another node numbered; the rest is relayed as it came. */
const MirroredEventSchema = z.object({
  type: z.string(),
  conversation_id: z.string(),
  seq: z.int(),
  text: z.string().optional(),
  state: z.enum(Object.values(ConversationState) as [ConversationState, ...ConversationState[]]).optional(),
});

/**
 * The outbound side of one conversation: numbers every event, publishes it to the conversation's topic once (all
 * its sockets share that one serialized string) and keeps the recent ones so a reconnecting client can catch up.
 */
export class ConversationChannel {
  readonly topic: string;
  private seq: number;
  /** A ring of the last `capacity` serialized events; `buffer[(seq - 1) % capacity]` holds event `seq`. */
  private readonly buffer: string[];
  private buffered = 0;
  /** UTF-16 units held by the buffered events (twice this in bytes, at most): bounded by `maxBufferedChars`. */
  private bufferedChars = 0;
  /** Text streamed in the current LLM step, for clients that resume past the buffer (not a rope: see TextBuilder). */
  private readonly draftText = new TextBuilder();
  /** Tokens relayed since the actor started (the inspector shows it; one increment per token). */
  tokenCount = 0;
  /** The state another node last published for this conversation, until this node publishes again. */
  remoteState: ConversationState | undefined;
  /** Events of the actor's start (a restored approval's state) stay on this node: it holds no turn yet. */
  private sharing = false;

  constructor(
    readonly conversationId: string,
    startSeq: number,
    private readonly capacity: number,
    private readonly publisher: Publisher,
    private readonly sink?: EventSink,
    /** An answer streamed in large pieces would otherwise keep `capacity` of them, whatever their size. */
    private readonly maxBufferedChars = Number.POSITIVE_INFINITY,
  ) {
    this.topic = conversationTopic(conversationId);
    this.seq = startSeq;
    this.buffer = new Array<string>(capacity);
  }

  get lastSeq(): number {
    return this.seq;
  }

  get draft(): string {
    return this.draftText.toString();
  }

  /**
   * The per-token path: one string build, one publish and, across nodes, one stream append. A step's first chunk
   * leaves at once: tokens that come faster than they are relayed (a burst, an answer from a cache) are gathered for
   * the end of the event-loop turn, and the user would wait for the whole burst to see the answer start.
   */
  chunk(text: string): void {
    const first = this.draftText.length === 0;
    this.tokenCount += 1;
    this.draftText.append(text);
    this.push(JSON.stringify({ type: 'chunk', conversation_id: this.conversationId, seq: this.seq + 1, text }), false);
    if (first) this.publisher.flush?.(this.topic);
  }

  publish(event: UnnumberedEvent): void {
    // Any other event closes the current LLM step: its text is in the history from here on.
    this.draftText.clear();
    this.remoteState = undefined;
    this.push(JSON.stringify({ ...event, conversation_id: this.conversationId, seq: this.seq + 1 }), true);
  }

  private push(data: string, turnBoundary: boolean): void {
    this.seq += 1;
    this.store(this.seq, data);
    this.publisher.publish(this.topic, data);
    if (this.sharing) this.sink?.({ seq: this.seq, data }, turnBoundary);
  }

  /** From now on, events go to the sink too. */
  startSharing(): void {
    this.sharing = true;
  }

  /** The text of a step that will not go on here (another node's, cut when it died): not a draft of this node's. */
  dropDraft(): void {
    this.draftText.clear();
  }

  private store(seq: number, data: string): void {
    const slot = (seq - 1) % this.capacity;
    if (this.buffered === this.capacity) this.bufferedChars -= this.buffer[slot]!.length;
    else this.buffered += 1;
    this.buffer[slot] = data;
    this.bufferedChars += data.length;
    // The oldest go first; the newest event is always kept, whatever its size.
    while (this.bufferedChars > this.maxBufferedChars && this.buffered > 1) {
      const oldest = (seq - this.buffered) % this.capacity;
      this.bufferedChars -= this.buffer[oldest]!.length;
      this.buffer[oldest] = '';
      this.buffered -= 1;
    }
  }

  /**
   * Events another node numbered (read from the conversation's stream), published to this node's sockets as if they
   * were ours. Those at or below `lastSeq` were seen already and are skipped, so each reaches a socket once.
   */
  mirror(events: readonly StreamEvent[]): void {
    for (const { seq, data } of events) {
      if (seq <= this.seq) continue;
      const parsed = MirroredEventSchema.safeParse(parseJson(data));
      // Only an event of this conversation, numbered as its entry: anything else in the stream is not relayed.
      if (!parsed.success || parsed.data.conversation_id !== this.conversationId || parsed.data.seq !== seq) continue;
      // Events missing in between (trimmed, or lost while Redis was down) cannot be replayed from here.
      if (seq !== this.seq + 1) {
        this.buffered = 0;
        this.bufferedChars = 0;
        this.buffer.fill('');
      }
      this.seq = seq;
      this.store(seq, data);
      const event = parsed.data;
      if (event.type === 'chunk') this.draftText.append(event.text ?? '');
      else this.draftText.clear();
      if (event.state) this.remoteState = event.state;
      this.publisher.publish(this.topic, data);
    }
  }

  /** The events after `lastSeq`, or `undefined` when some of them are no longer buffered (or never existed). */
  since(lastSeq: number): string[] | undefined {
    if (lastSeq > this.seq) return undefined;
    const oldest = this.seq - this.buffered + 1;
    if (lastSeq + 1 < oldest) return undefined;
    const events: string[] = [];
    for (let s = lastSeq + 1; s <= this.seq; s++) events.push(this.buffer[(s - 1) % this.capacity]!);
    return events;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
