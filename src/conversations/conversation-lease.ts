import type { Redis } from 'ioredis';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { conversationKey } from './conversation-keys.js';

/** Deletes or extends the lease only while this node still holds it: a lease that expired and was taken stays taken. */
const RELEASE_IF_MINE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const RENEW_IF_MINE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

export const ClaimOutcome = {
  /** This node runs the turn. */
  Held: 'held',
  /** Another node runs a turn of this conversation right now. */
  HeldElsewhere: 'held_elsewhere',
  /** Redis did not answer: the turn runs here without a lease (storage still refuses a conflicting write). */
  Unavailable: 'unavailable',
} as const;
export type ClaimOutcome = (typeof ClaimOutcome)[keyof typeof ClaimOutcome];

export interface ConversationLeaseOptions {
  redis: Redis;
  prefix: string;
  /** Written as the lease's value: which node runs the turn. */
  nodeId: string;
  /** A node that dies holding a lease blocks the conversation this long at most. */
  ttlMs: number;
  logger: Logger;
}

/**
 * One node at a time runs a conversation's turn: the node that starts a turn holds a lease in Redis until the actor is
 * quiet again, renewing it while the turn runs. A node that dies stops renewing, and the lease lapses after `ttlMs`.
 */
export class ConversationLease {
  private readonly held = new Set<string>();
  private readonly renewTimer: NodeJS.Timeout;

  constructor(private readonly options: ConversationLeaseOptions) {
    // A third of the lifetime: two renewals may fail (a Redis hiccup) before the lease lapses.
    this.renewTimer = setInterval(() => void this.renewAll(), Math.max(1, Math.floor(options.ttlMs / 3)));
    this.renewTimer.unref();
  }

  private key(conversationId: string): string {
    return conversationKey(this.options.prefix, conversationId, 'lease');
  }

  /** Takes the lease, or keeps it when this node already holds it. */
  async claim(conversationId: string): Promise<ClaimOutcome> {
    const { redis, nodeId, ttlMs } = this.options;
    const key = this.key(conversationId);
    try {
      const taken = await redis.set(key, nodeId, 'PX', ttlMs, 'NX');
      if (taken === null && (await redis.eval(RENEW_IF_MINE, 1, key, nodeId, ttlMs)) !== 1) return ClaimOutcome.HeldElsewhere;
      this.held.add(conversationId);
      return ClaimOutcome.Held;
    } catch (error) {
      this.options.logger.warn({ conversationId, err: errorMessage(error) }, 'conversation lease unavailable (Redis); running the turn without it');
      return ClaimOutcome.Unavailable;
    }
  }

  /** The node running a turn of the conversation, if any. Undefined also when Redis cannot say. */
  async holder(conversationId: string): Promise<string | undefined> {
    try {
      return (await this.options.redis.get(this.key(conversationId))) ?? undefined;
    } catch {
      return undefined;
    }
  }

  isMine(holder: string | undefined): boolean {
    return holder === this.options.nodeId;
  }

  release(conversationId: string): void {
    if (!this.held.delete(conversationId)) return;
    this.options.redis.eval(RELEASE_IF_MINE, 1, this.key(conversationId), this.options.nodeId).catch((error: unknown) => {
      // It lapses on its own after ttlMs.
      this.options.logger.warn({ conversationId, err: errorMessage(error) }, 'could not release a conversation lease');
    });
  }

  private async renewAll(): Promise<void> {
    const { redis, nodeId, ttlMs, logger } = this.options;
    for (const conversationId of [...this.held]) {
      try {
        if ((await redis.eval(RENEW_IF_MINE, 1, this.key(conversationId), nodeId, ttlMs)) !== 1) {
          this.held.delete(conversationId);
          logger.error({ conversationId }, 'conversation lease lost while a turn ran here (this node stalled past its lifetime)');
        }
      } catch (error) {
        logger.warn({ conversationId, err: errorMessage(error) }, 'could not renew a conversation lease');
      }
    }
  }

  /** Stops renewing; leases still held lapse on their own. Safe to call twice. */
  close(): void {
    clearInterval(this.renewTimer);
    this.held.clear();
  }
}
