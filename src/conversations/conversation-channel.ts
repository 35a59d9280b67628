import type { UnnumberedEvent } from '../server/protocol.js';
import { TextBuilder } from './text-builder.js';

/** Where numbered events go: in the server, uWS pub/sub topics; in tests, anything that records. */
export interface Publisher {
  publish(topic: string, message: string): void;
}

export function conversationTopic(conversationId: string): string {
  return `conversation:${conversationId}`;
}

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
  /** Text streamed in the current LLM step, for clients that resume past the buffer (not a rope: see TextBuilder). */
  private readonly draftText = new TextBuilder();
  /** Tokens relayed since the actor started (the inspector shows it; one increment per token). */
  tokenCount = 0;

  constructor(
    readonly conversationId: string,
    startSeq: number,
    private readonly capacity: number,
    private readonly publisher: Publisher,
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

  /** The per-token path: one string build and one publish, nothing else. */
  chunk(text: string): void {
    this.tokenCount += 1;
    this.draftText.append(text);
    this.push(JSON.stringify({ type: 'chunk', conversation_id: this.conversationId, seq: this.seq + 1, text }));
  }

  publish(event: UnnumberedEvent): void {
    // Any other event closes the current LLM step: its text is in the history from here on.
    this.draftText.clear();
    this.push(JSON.stringify({ ...event, conversation_id: this.conversationId, seq: this.seq + 1 }));
  }

  private push(data: string): void {
    this.seq += 1;
    this.buffer[(this.seq - 1) % this.capacity] = data;
    this.buffered = Math.min(this.buffered + 1, this.capacity);
    this.publisher.publish(this.topic, data);
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
