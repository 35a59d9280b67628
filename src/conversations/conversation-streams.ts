import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { conversationKey } from './conversation-keys.js';

/** One numbered event as a node published it: the stream entry's id is `<seq>-0`. */
export interface StreamEvent {
  seq: number;
  data: string;
}

export interface ConversationStreamsOptions {
  /** For appends and reads of the tail: fails fast while Redis is down, so tokens never pile up in memory. */
  writer: Redis;
  /** For the blocking reads of the follow loop; nothing else may use it. */
  reader: Redis;
  prefix: string;
  nodeId: string;
  /** Entries kept per conversation (approximately: Redis trims in whole nodes); the replay window of every node. */
  maxEvents: number;
  /** A stream no turn has touched for this long is deleted by Redis. */
  ttlMs: number;
  logger: Logger;
  /** The conversations this node follows, each with the last seq it has; asked before every read. */
  followed: () => Iterable<{ id: string; lastSeq: number }>;
  /** Events that appeared in a followed stream, in order. */
  onEvents: (conversationId: string, events: StreamEvent[]) => void;
}

/** Entries taken per stream and read: a long answer's backlog is caught up in a few reads, not one huge reply. */
const READ_COUNT = 500;
/** A read returns at least this often, so `close()` never waits long for the loop. */
const BLOCK_MS = 5_000;
const FIELD = 'e';
const RETRY_AFTER_ERROR_MS = 500;

/** XREAD's reply as Redis sends it (RESP2): per stream, its key and its entries, each an id and field-value pairs. */
const XReadReplySchema = z.array(z.tuple([z.string(), z.array(z.tuple([z.string(), z.array(z.string())]))])).nullable();
/** Followers see another node's tokens this much later at most; in exchange, reads stay few under many streams. */
const BATCH_GATHER_MS = 20;

/**
 * A conversation's numbered events in a Redis Stream, one per conversation: the node running a turn appends every
 * event, and every node with the conversation open follows the stream, so a socket on any node sees the answer live
 * and can resume mid-answer from the stream's window.
 */
export class ConversationStreams {
  private closed = false;
  private readonly wakeKey: string;
  private lastWakeId = '0-0';
  private appendFailing = false;
  private readonly loop: Promise<void>;

  constructor(private readonly options: ConversationStreamsOptions) {
    // A per-node stream that is part of every read: appending to it wakes a blocked read when the followed set grows.
    this.wakeKey = `${options.prefix}:node:{${options.nodeId}}:wake`;
    this.loop = this.follow().catch((error: unknown) => options.logger.error({ err: errorMessage(error) }, 'conversation stream follower stopped'));
  }

  private key(conversationId: string): string {
    return conversationKey(this.options.prefix, conversationId, 'events');
  }

  /**
   * Where one conversation's numbered events go: appended in order (one connection), fire and forget; a failure is
   * logged once per outage and costs only the other nodes' view. The expiry is refreshed at turn boundaries only.
   */
  sink(conversationId: string): (event: StreamEvent, turnBoundary: boolean) => void {
    const { writer, maxEvents, ttlMs } = this.options;
    const key = this.key(conversationId);
    const appended = (): void => {
      this.appendFailing = false;
    };
    const failed = (error: unknown): void => {
      if (this.appendFailing) return;
      this.appendFailing = true;
      this.options.logger.warn({ conversationId, err: errorMessage(error) }, 'conversation events not shared with other nodes (Redis)');
    };
    return (event, turnBoundary) => {
      writer.xadd(key, 'MAXLEN', '~', maxEvents, `${event.seq}-0`, FIELD, event.data).then(appended, failed);
      if (turnBoundary) writer.pexpire(key, ttlMs).then(appended, failed);
    };
  }

  /** The newest `count` events after `seq`, oldest first; empty when Redis cannot say. */
  async newestAfter(conversationId: string, seq: number, count: number): Promise<StreamEvent[]> {
    try {
      const entries = await this.options.writer.xrevrange(this.key(conversationId), '+', `(${seq}-0`, 'COUNT', count);
      return entries.reverse().flatMap(([id, fields]) => toEvent(id, fields));
    } catch (error) {
      this.options.logger.warn({ conversationId, err: errorMessage(error) }, 'cannot read the conversation stream (Redis)');
      return [];
    }
  }

  /** The newest event; `undefined` when the stream is empty or Redis cannot say. */
  async newest(conversationId: string): Promise<StreamEvent | undefined> {
    return (await this.newestAfter(conversationId, 0, 1))[0];
  }

  /** The followed set grew: a read blocked on the old set returns and starts again with the new one. */
  wake(): void {
    this.options.writer.xadd(this.wakeKey, 'MAXLEN', '~', 10, '*', FIELD, '').then(
      () => this.options.writer.pexpire(this.wakeKey, this.options.ttlMs),
      () => undefined,
    ).catch(() => undefined);
  }

  private async follow(): Promise<void> {
    const { reader, logger } = this.options;
    let failing = false;
    while (!this.closed) {
      const followed = [...this.options.followed()];
      const byKey = new Map(followed.map((f) => [this.key(f.id), f.id]));
      const keys = [this.wakeKey, ...byKey.keys()];
      const ids = [this.lastWakeId, ...followed.map((f) => `${f.lastSeq}-0`)];
      let reply: z.infer<typeof XReadReplySchema>;
      try {
        reply = XReadReplySchema.parse(await reader.xread('COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...keys, ...ids));
        failing = false;
      } catch (error) {
        if (this.closed) return;
        if (!failing) logger.warn({ err: errorMessage(error) }, 'cannot follow conversation streams (Redis); retrying');
        failing = true;
        await sleep(RETRY_AFTER_ERROR_MS);
        continue;
      }
      for (const [key, entries] of reply ?? []) {
        if (key === this.wakeKey) {
          this.lastWakeId = entries.at(-1)?.[0] ?? this.lastWakeId;
          continue;
        }
        const conversationId = byKey.get(key);
        const events = entries.flatMap(([id, fields]) => toEvent(id, fields));
        try {
          if (conversationId && events.length > 0) this.options.onEvents(conversationId, events);
        } catch (error) {
          logger.error({ conversationId, err: errorMessage(error) }, 'could not relay events from another node');
        }
      }
      // Tokens come one at a time: a short pause lets a batch gather instead of one read (over every key) per token.
      if (reply) await sleep(BATCH_GATHER_MS);
    }
  }

  /** Ends the follow loop and drops the reader's connection (the writer's belongs to the caller). Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.options.reader.disconnect();
    await this.loop.catch(() => undefined);
  }
}

function toEvent(id: string, fields: string[]): StreamEvent[] {
  const seq = Number.parseInt(id, 10);
  const at = fields.indexOf(FIELD);
  const data = at >= 0 ? fields[at + 1] : undefined;
  return Number.isSafeInteger(seq) && seq > 0 && data !== undefined ? [{ seq, data }] : [];
}
