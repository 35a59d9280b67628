import type { Redis } from 'ioredis';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { conversationKey } from './conversation-keys.js';

/** Deletes or extends the lease only while this node still holds it: a lease that expired and was taken stays taken. */
const RELEASE_IF_MINE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const RENEW_IF_MINE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
/**
 * Renewal of a lease this node holds: extended while it is ours; taken again when Redis lost it (a restart without
 * persistence, a failover), so the turn keeps it; 0 only when another node holds it now.
 */
const KEEP_MINE = `local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;

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
  /** A lease this node held is now another node's: the turn running here must stop. */
  onLost: (conversationId: string) => void;
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

  /** The node running a turn of the conversation: `null` when none does, `undefined` when Redis cannot say. */
  async holder(conversationId: string): Promise<string | null | undefined> {
    try {
      return await this.options.redis.get(this.key(conversationId));
    } catch {
      return undefined;
    }
  }

  isMine(holder: string | null | undefined): boolean {
    return holder === this.options.nodeId;
  }

  holds(conversationId: string): boolean {
    return this.held.has(conversationId);
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
    let failed = 0;
    for (const conversationId of [...this.held]) {
      try {
        if ((await redis.eval(KEEP_MINE, 1, this.key(conversationId), nodeId, ttlMs)) !== 1 && this.held.delete(conversationId)) this.options.onLost(conversationId);
      } catch (error) {
        if (failed++ === 0) logger.warn({ held: this.held.size, err: errorMessage(error) }, 'could not renew conversation leases (Redis)');
      }
    }
  }

  /** Stops renewing and gives back the leases still held (they would lapse anyway). Safe to call twice. */
  async close(): Promise<void> {
    clearInterval(this.renewTimer);
    const held = [...this.held];
    this.held.clear();
    const { redis, nodeId } = this.options;
    await Promise.allSettled(held.map((id) => redis.eval(RELEASE_IF_MINE, 1, this.key(id), nodeId)));
  }
}
