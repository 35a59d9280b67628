import { ErrorCode, RuntimeError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { ConversationState, wireState } from '../machines/conversation-machine.js';
import type { StreamEvent } from './conversation-streams.js';
import type { CrossNode } from './cross-node.js';
import { isBusy, type LiveConversation } from './live-conversation.js';

export interface CrossNodeTurnsOptions {
  crossNode: CrossNode;
  /** The hub's live conversations. */
  live: ReadonlyMap<string, LiveConversation>;
  /** Whether a socket of this node watches the conversation (its topic has subscribers). */
  watched: (conversation: LiveConversation) => boolean;
  saveLastSeq: (conversationId: string, seq: number) => Promise<void>;
  /** Drops the live actor and loads the conversation again from storage (and the stream). */
  reload: (conversation: LiveConversation) => Promise<void>;
  logger: Logger;
}

const ANSWERING_ELSEWHERE_MESSAGE = 'This conversation is answering on another server right now; wait for its `done`, then send again.';

/**
 * The hub's side of nodes sharing conversations: which conversations this node follows, what another node's events
 * do here, and the lease a turn takes before it starts and gives back when it is over.
 */
export class CrossNodeTurns {
  private readonly checkTimer: NodeJS.Timeout;
  /** Seen without a lease at the last check: reloaded if still so at the next one. */
  private readonly orphanSuspects = new Set<string>();
  private checking = false;

  constructor(private readonly options: CrossNodeTurnsOptions) {
    // As often as the node running a turn renews its lease: a dead one is found within about a lease and two checks.
    this.checkTimer = setInterval(() => void this.reloadOrphans(), Math.max(1, Math.floor(options.crossNode.leaseTtlMs / 3)));
    this.checkTimer.unref();
    options.crossNode.follow({
      followed: () => this.followed(),
      onEvents: (id, events) => this.mirror(id, events),
      onCancel: (id) => this.cancelHere(id),
      onLeaseLost: (id) => this.leaseLost(id),
    });
  }

  /** Conversations a socket here watches, quiet here: one answering here is not followed, its events are ours. */
  private *followed(): Iterable<{ id: string; lastSeq: number }> {
    for (const conversation of this.options.live.values()) {
      if (!isBusy(conversation) && this.options.watched(conversation)) yield { id: conversation.id, lastSeq: conversation.channel.lastSeq };
    }
  }

  /** Another node's events for a conversation open here: on to this node's sockets, once each. */
  private mirror(conversationId: string, events: StreamEvent[]): void {
    const conversation = this.options.live.get(conversationId);
    if (!conversation || isBusy(conversation)) return;
    conversation.channel.mirror(events);
    conversation.lastActiveAt = Date.now();
  }

  private cancelHere(conversationId: string): void {
    const conversation = this.options.live.get(conversationId);
    if (conversation && isBusy(conversation)) conversation.actor.send({ type: 'CANCEL' });
  }

  /** Redis lost the lease and another node took it: two nodes must not answer at once, so this one stops. */
  private leaseLost(conversationId: string): void {
    this.options.logger.error({ conversationId }, 'conversation lease taken by another node while a turn ran here; cancelling it here');
    this.cancelHere(conversationId);
  }

  /**
   * A watched conversation shown while another node ran its turn, whose lease is gone without the turn's end: that
   * node died. Loaded again, it tells its watchers the turn was cut (see `launchConversation`) and may run here.
   */
  private async reloadOrphans(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await this.checkOrphans();
    } finally {
      this.checking = false;
    }
  }

  private async checkOrphans(): Promise<void> {
    const suspects = new Set(this.orphanSuspects);
    this.orphanSuspects.clear();
    for (const conversation of [...this.options.live.values()]) {
      if (!conversation.provisional || !this.options.watched(conversation)) continue;
      // Running elsewhere, or Redis cannot say (then the node that runs it cannot renew either): not now.
      if ((await this.options.crossNode.runningElsewhere(conversation.id)) !== false) continue;
      // Twice in a row, a check apart: a node that is alive takes back a lease Redis lost (a restart, a failover)
      // at its next renewal, sooner than that.
      if (!suspects.has(conversation.id)) {
        this.orphanSuspects.add(conversation.id);
        continue;
      }
      await this.options.reload(conversation).catch((err: unknown) =>
        this.options.logger.warn({ conversationId: conversation.id, err: errorMessage(err) }, 'could not reload a conversation whose node is gone'),
      );
    }
  }

  close(): void {
    clearInterval(this.checkTimer);
  }

  /** Whether an idle actor must stay: a socket here watches it, and only a live actor follows another node's turns. */
  keepsAlive(conversation: LiveConversation): boolean {
    return this.options.watched(conversation);
  }

  /**
   * Takes the turn for this node before an event that may start one; `busy` while another node runs it. The numbering
   * goes on after the newest event in the stream, which the follow loop may not have delivered yet.
   */
  async claim(conversation: LiveConversation): Promise<void> {
    if (isBusy(conversation)) return;
    const { crossNode } = this.options;
    if (conversation.provisional || !(await crossNode.claim(conversation.id))) throw new RuntimeError(ErrorCode.Busy, ANSWERING_ELSEWHERE_MESSAGE);
    conversation.channel.mirror(await crossNode.newestAfter(conversation.id, conversation.channel.lastSeq));
  }

  /**
   * The turn is over here. Its last number is stored before the lease goes, so the node that takes it next numbers on
   * after it even if some events never reached the stream; then this node follows the stream again.
   */
  turnOver(conversation: LiveConversation): void {
    const { crossNode, saveLastSeq, logger } = this.options;
    if (!crossNode.holds(conversation.id)) return crossNode.followedChanged();
    saveLastSeq(conversation.id, conversation.channel.lastSeq)
      .catch((err: unknown) => logger.warn({ conversationId: conversation.id, err: errorMessage(err) }, 'could not save the sequence before releasing a turn'))
      .finally(() => {
        // A turn started here again meanwhile keeps the lease.
        if (!isBusy(conversation)) crossNode.release(conversation.id);
        crossNode.followedChanged();
      });
  }

  /**
   * The user's Stop. A turn running here is cancelled here; a step waiting for approval is closed only by the node that
   * holds the turn (an approval on another node may be starting its call); anything else may run elsewhere.
   * Returns whether the caller should send CANCEL to the local actor.
   */
  async cancel(conversation: LiveConversation): Promise<boolean> {
    if (isBusy(conversation)) return true;
    const waiting = wireState(conversation.actor.getSnapshot().value) === ConversationState.AwaitingApproval;
    if (waiting && !conversation.provisional && (await this.options.crossNode.claim(conversation.id))) return true;
    this.options.crossNode.cancelElsewhere(conversation.id);
    return false;
  }
}
