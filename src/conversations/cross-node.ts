import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { ServerMessageSchema } from '../protocol/protocol.js';
import { keepSubscribed, redisConnection, whenReady } from '../queue/redis-connection.js';
import type { EventSink } from './conversation-channel.js';
import { ClaimOutcome, ConversationLease } from './conversation-lease.js';
import { ConversationStreams, type StreamEvent } from './conversation-streams.js';
import { QUIET_STATES } from './live-conversation.js';

export interface CrossNodeOptions {
  redisUrl: string;
  prefix: string;
  /** Stream length per conversation: the same window as a node's own replay buffer. */
  maxEvents: number;
  logger: Logger;
  /** @default 15000 */
  leaseTtlMs?: number;
  /** @default 3600000 */
  streamTtlMs?: number;
}

/** What the hub tells the follow loop: the conversations to follow, and where their new events go. */
export interface FollowedConversations {
  followed(): Iterable<{ id: string; lastSeq: number }>;
  onEvents(conversationId: string, events: StreamEvent[]): void;
  /** A user on another node pressed Stop: cancel the turn if it runs here. */
  onCancel(conversationId: string): void;
  /** Another node holds the lease of a turn running here (Redis lost it meanwhile). */
  onLeaseLost(conversationId: string): void;
}

/** A claim, an append or a read that Redis does not answer in this long fails: the turn goes on without it. */
const COMMAND_TIMEOUT_MS = 2_000;

/** A cancel relayed between nodes names only the conversation: the node that relays it checked whose it is. */
const CancelSchema = z.uuid();

/**
 * A node whose turn is over stores the turn's last seq, then gives the lease back; its `done` is in the stream before
 * that, and a client that got it may send again at once (as `busy` tells it to), on another node. That node waits this
 * long at most for the lease: a storage write under load takes less, and a node that died there lets the lease lapse.
 */
const HANDOVER_WAIT_MS = 2_000;
/** How often the lease is looked at meanwhile. */
const HANDOVER_POLL_MS = 20;

/** A node stays `thinking`, `streaming`, … through its turn, and publishes a quiet state, then `done`, at its end. */
function endsTurn(event: StreamEvent | undefined): boolean {
  if (!event) return false;
  let data: unknown;
  try {
    data = JSON.parse(event.data);
  } catch {
    return false;
  }
  const parsed = ServerMessageSchema.safeParse(data);
  if (!parsed.success) return false;
  const message = parsed.data;
  return message.type === 'done' || (message.type === 'state' && QUIET_STATES.has(message.state));
}

/** A node that stalls or dies holding a turn blocks its conversation this long at most. */
const DEFAULT_LEASE_TTL_MS = 15_000;
/** Long enough for any answer and a reconnect after it; a quiet conversation's stream is then left to expire. */
const DEFAULT_STREAM_TTL_MS = 3_600_000;

/**
 * The nodes of one deployment sharing conversations through Redis (shared storage with Redis): each conversation's
 * events in a stream every node follows, and a lease so one node at a time runs its turn.
 */
export class CrossNode {
  readonly nodeId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly leaseRedis: Redis;
  private cancels: Redis | undefined;
  private readonly cancelChannel: string;
  private readonly lease: ConversationLease;
  private streams: ConversationStreams | undefined;
  private onLeaseLost: ((conversationId: string) => void) | undefined;

  constructor(private readonly options: CrossNodeOptions) {
    this.cancelChannel = `${options.prefix}:cancel-turn`;
    this.leaseRedis = redisConnection(options.redisUrl, 'producer', options.logger, { commandTimeoutMs: COMMAND_TIMEOUT_MS });
    this.lease = new ConversationLease({
      redis: this.leaseRedis,
      prefix: options.prefix,
      nodeId: this.nodeId,
      ttlMs: options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
      logger: options.logger,
      onLost: (id) => this.onLeaseLost?.(id),
    });
  }

  /** Starts following; called once the hub exists, since it is the hub that knows what to follow. */
  follow(conversations: FollowedConversations): void {
    const { redisUrl, prefix, maxEvents, logger, streamTtlMs = DEFAULT_STREAM_TTL_MS } = this.options;
    this.onLeaseLost = (id) => conversations.onLeaseLost(id);
    this.streams ??= new ConversationStreams({
      // The lease's connection: a turn's last events are sent before its lease is released, and Redis runs one
      // connection's commands in order, so a node that takes the lease next finds them all in the stream.
      writer: this.leaseRedis,
      reader: redisConnection(redisUrl, 'blocking', logger),
      prefix,
      nodeId: this.nodeId,
      maxEvents,
      ttlMs: streamTtlMs,
      logger,
      followed: () => conversations.followed(),
      onEvents: (id, events) => conversations.onEvents(id, events),
    });
    if (this.cancels) return;
    this.cancels = redisConnection(redisUrl, 'subscriber', logger);
    this.cancels.on('message', (channel, message) => {
      const id = CancelSchema.safeParse(message);
      if (channel === this.cancelChannel && id.success) conversations.onCancel(id.data);
    });
    keepSubscribed(this.cancels, this.cancelChannel, logger).catch((error: unknown) => logger.warn({ err: errorMessage(error) }, 'cannot hear cancels from other nodes'));
  }

  /** Asks whichever node runs the conversation's turn to cancel it (a no-op where none does). */
  cancelElsewhere(conversationId: string): void {
    this.leaseRedis.publish(this.cancelChannel, conversationId).catch((error: unknown) => {
      this.options.logger.warn({ conversationId, err: errorMessage(error) }, 'could not relay a cancel to other nodes (Redis)');
    });
  }

  sink(conversationId: string): EventSink | undefined {
    return this.streams?.sink(conversationId);
  }

  /** The newest events after `seq`: what a node loading the conversation, or taking its lease, has not seen. */
  newestAfter(conversationId: string, seq: number): Promise<StreamEvent[]> {
    return this.streams?.newestAfter(conversationId, seq, this.options.maxEvents) ?? Promise.resolve([]);
  }

  /** Whether this node holds the conversation's lease. */
  holds(conversationId: string): boolean {
    return this.lease.holds(conversationId);
  }

  /** Resolves once leases can be taken (a claim before that would run its turn without one). */
  waitUntilReady(): Promise<void> {
    return whenReady(this.leaseRedis);
  }

  /** How long a lease outlives its node. */
  get leaseTtlMs(): number {
    return this.options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  }

  /** The set of followed conversations grew (one was loaded, or one's turn here ended). */
  followedChanged(): void {
    this.streams?.wake();
  }

  /**
   * Whether another node runs a turn of the conversation now; `undefined` when Redis cannot say. A node handing a turn
   * that is over back (see `HANDOVER_WAIT_MS`) runs none: its lease is waited for.
   */
  async runningElsewhere(conversationId: string): Promise<boolean | undefined> {
    return this.afterHandover(conversationId, async () => {
      const holder = await this.lease.holder(conversationId);
      return holder === undefined ? undefined : holder !== null && !this.lease.isMine(holder);
    });
  }

  /**
   * False when another node runs a turn of the conversation; true when this node may (also when Redis is down). The
   * lease of a turn that is over is waited for, not refused (see `HANDOVER_WAIT_MS`).
   */
  async claim(conversationId: string): Promise<boolean> {
    return !(await this.afterHandover(conversationId, async () => (await this.lease.claim(conversationId)) === ClaimOutcome.HeldElsewhere));
  }

  /**
   * `heldElsewhere()`, asked again while another node holds the lease but the stream already has its turn's end: that
   * node is storing the turn's last seq and gives the lease back next. A turn it starts meanwhile ends the wait (its
   * first event is not quiet), and so does `HANDOVER_WAIT_MS`.
   */
  private async afterHandover<T extends boolean | undefined>(conversationId: string, heldElsewhere: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + HANDOVER_WAIT_MS;
    for (;;) {
      const held = await heldElsewhere();
      if (held !== true || Date.now() >= deadline || !endsTurn(await this.streams?.newest(conversationId))) return held;
      await sleep(HANDOVER_POLL_MS);
    }
  }

  release(conversationId: string): void {
    this.lease.release(conversationId);
  }

  /** Gives back the leases still held (best effort: they lapse anyway). Safe to call twice. */
  async close(): Promise<void> {
    await this.lease.close();
    await this.streams?.close();
    this.cancels?.disconnect();
    this.leaseRedis.disconnect();
  }
}
