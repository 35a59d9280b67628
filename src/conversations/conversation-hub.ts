import { randomUUID } from 'node:crypto';
import { ErrorCode, RuntimeError, errorMessage } from '../errors.js';
import { ConversationState, TurnOutcome, wireState, type ConversationEvent, type ConversationMachine } from '../machines/conversation-machine.js';
import { replyCall, type ReplyToSend } from '../replies/reply-proposal.js';
import { ConditionWaiters } from './condition-waiters.js';
import type { ConversationHubOptions } from './conversation-hub-options.js';
import { findStored, readyToRun } from './conversation-restore.js';
import { titleFrom, titleIfUntitled } from './conversation-title.js';
import { CrossNodeTurns } from './cross-node-turns.js';
import { isEvictable, sweepIntervalMs, type IdleEvictionPolicy } from './idle-eviction.js';
import { QUIET_STATES, endCutTurn, isBusy, isCutTurn, launchConversation, type LiveConversation, type StoredConversation } from './live-conversation.js';
import { isBehindStorage } from './storage-freshness.js';
import type { ProposedCall } from './tool-batch.js';

const DRAINING_MESSAGE = 'The server is restarting; resend in a moment.';
/** The outcome a turn's trace records when its actor is stopped (evicted, closed) before the turn was over. */
const STOPPED_MID_TURN = 'stopped';

/**
 * The live conversation actors of this process. Actors exist only while used: they are created or restored from
 * storage on demand and stopped when idle, so an idle socket costs no actor at all.
 */
export class ConversationHub {
  private readonly live = new Map<string, LiveConversation>();
  private readonly loading = new Map<string, Promise<LiveConversation | undefined>>();
  private machine: ConversationMachine | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;
  /** Set by `drain()`: turns in flight go on, new ones are refused. */
  private draining = false;
  /** `whenIdle()` calls, re-checked after every state change. */
  private readonly idleWaiters = new ConditionWaiters(() => this.busyCount === 0);
  /** With nodes sharing conversations (shared storage and Redis). */
  private readonly crossNode: CrossNodeTurns | undefined;
  /** What else the idle sweep asks before stopping a quiet actor: unsaved writes, other nodes' turns watched here. */
  private readonly eviction: IdleEvictionPolicy;

  constructor(private readonly options: ConversationHubOptions) {
    this.sweepTimer = setInterval(() => void this.sweepIdle(), sweepIntervalMs(options.idleActorTtlMs));
    this.sweepTimer.unref();
    this.crossNode = options.crossNode
      ? new CrossNodeTurns({
          crossNode: options.crossNode,
          live: this.live,
          watched: (conversation) => options.publisher.watched?.(conversation.channel.topic) ?? false,
          saveLastSeq: (id, seq) => options.store.saveLastSeq(id, seq),
          reload: async (conversation) => {
            // Known before the eviction stores the seq it had followed to: the reload then finds nothing after it.
            const cut = isCutTurn(conversation.channel);
            if (this.live.get(conversation.id) === conversation) await this.evict(conversation);
            const fresh = await this.load(conversation.id);
            if (cut && fresh) endCutTurn(fresh.channel);
          },
          logger: options.logger,
        })
      : undefined;
    this.eviction = {
      idleActorTtlMs: options.idleActorTtlMs,
      holdsUnsaved: (id) => options.holdsUnsaved?.(id) ?? false,
      keepsAlive: (conversation) => this.crossNode?.keepsAlive(conversation) ?? false,
    };
  }

  /** The machine is built after the hub, because its LLM actor relays tokens through the hub. */
  useMachine(machine: ConversationMachine): void {
    this.machine = machine;
  }

  /** Token relay for the LLM stream actor: a map lookup, a publish and a counter increment. */
  relay(conversationId: string, text: string): void {
    const conversation = this.live.get(conversationId);
    if (!conversation) return;
    conversation.channel.chunk(text);
    this.options.metrics?.tokenRelayed();
  }

  lastSeq(conversationId: string): number {
    return this.live.get(conversationId)?.channel.lastSeq ?? 0;
  }

  get size(): number {
    return this.live.size;
  }

  /** Live actors with work in flight: responding, calling a tool, or saving a finished turn (`done`). */
  get busyCount(): number {
    let busy = 0;
    for (const conversation of this.live.values()) if (isBusy(conversation)) busy += 1;
    return busy;
  }

  /** From now on new conversations and new turns are refused with a "resend in a moment" error; the rest works. */
  drain(): void {
    this.draining = true;
  }

  /** Resolves `true` once no live actor is busy, or `false` after `timeoutMs`. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    return this.idleWaiters.wait(timeoutMs);
  }

  /**
   * Cancels every busy turn, as the user's `cancel` would: the partial answer is kept as `interrupted` and saved
   * before the actor is back in `idle` (wait for that with `whenIdle`). Returns how many were cancelled.
   */
  cancelBusy(): number {
    // `done` is already saving its turn: nothing to cut there.
    const busy = [...this.live.values()].filter((c) => isBusy(c) && wireState(c.actor.getSnapshot().value) !== ConversationState.Done);
    for (const conversation of busy) conversation.actor.send({ type: 'CANCEL' });
    return busy.length;
  }

  async create(userEmail: string, firstMessage?: string): Promise<LiveConversation> {
    if (this.draining) throw new RuntimeError(ErrorCode.Busy, DRAINING_MESSAGE);
    const id = randomUUID();
    const title = firstMessage ? titleFrom(firstMessage) : '';
    await this.options.store.create({ id, userEmail, title });
    return this.start({ id, userEmail, title, lastSeq: 0, messages: [] });
  }

  /** A conversation of this user, live or restored; another user's conversation is reported as not found. */
  async open(id: string, userEmail: string): Promise<LiveConversation> {
    const conversation = (await this.current(id)) ?? (await this.load(id));
    if (!conversation || conversation.userEmail !== userEmail) {
      throw new RuntimeError(ErrorCode.NotFound, `No conversation "${id}" for ${userEmail}.`);
    }
    conversation.lastActiveAt = Date.now();
    return conversation;
  }

  /**
   * The live actor, if it is up to date. With storage shared by several nodes, the user may have gone on with this
   * conversation on another node since this actor was loaded: a quiet actor behind storage (messages, or decisions and
   * starts of the calls it waits on) is dropped and the conversation reloaded, as is one loaded while another node
   * ran its turn (provisional) once that turn is over.
   */
  private async current(id: string): Promise<LiveConversation | undefined> {
    const live = this.live.get(id);
    if (!live || !this.options.sharedStorage || isBusy(live)) return live;
    if (live.provisional && !(await this.options.crossNode?.runningElsewhere(id))) {
      if (this.live.get(id) === live) await this.evict(live);
      return undefined;
    }
    if (!(await isBehindStorage(this.options.store, id, live.actor.getSnapshot().context))) return live;
    this.options.logger.info({ conversationId: id }, 'conversation moved on elsewhere; reloading it from storage');
    if (this.live.get(id) === live) await this.evict(live);
    return undefined;
  }

  private load(id: string): Promise<LiveConversation | undefined> {
    let pending = this.loading.get(id);
    if (!pending) {
      pending = this.restore(id).finally(() => this.loading.delete(id));
      this.loading.set(id, pending);
    }
    return pending;
  }

  private async restore(id: string): Promise<LiveConversation | undefined> {
    const found = await findStored(this.options, id);
    if (!found) return undefined;
    const live = this.live.get(id);
    if (live) return live;
    return this.start(found.runningElsewhere ? found.asStored : await readyToRun(this.options, found.asStored));
  }

  private start(stored: StoredConversation): LiveConversation {
    if (!this.machine) throw new Error('ConversationHub.useMachine() was not called');
    if (this.closed) throw new RuntimeError(ErrorCode.Internal, 'The server is shutting down.');
    const conversation = launchConversation(this.machine, stored, {
      maxToolSteps: this.options.maxToolSteps,
      replayBufferEvents: this.options.replayBufferEvents,
      replayBufferChars: this.options.replayBufferChars,
      publisher: this.options.publisher,
      sink: this.options.crossNode?.sink(stored.id),
      inspect: this.options.observe?.({ id: stored.id, userEmail: stored.userEmail }),
      logger: this.options.logger,
      onStateChange: (state, failed) => {
        // A failed actor runs nothing any more: its turn is over too.
        if (failed || QUIET_STATES.has(state)) {
          this.crossNode?.turnOver(conversation);
          this.options.turns?.end(stored.id, failed ? TurnOutcome.Error : state === ConversationState.Idle ? conversation.actor.getSnapshot().context.outcome : state);
        }
        // After `done` is published: a shutdown waiting for this turn closes the socket only once the client has it.
        this.idleWaiters.check();
      },
    });
    this.live.set(stored.id, conversation);
    conversation.actor.start();
    conversation.channel.startSharing();
    this.options.lifecycle?.started(conversation);
    this.options.crossNode?.followedChanged();
    return conversation;
  }

  /**
   * Takes the conversation's turn for this node before an event that may start one: refused with `busy` while another
   * node runs it, and a new turn (`chat`) while this node drains. Without cross-node sharing there is nothing to take.
   */
  async claim(conversation: LiveConversation, event: 'CHAT' | 'DECISION'): Promise<void> {
    if (event === 'CHAT' && this.draining) throw new RuntimeError(ErrorCode.Busy, DRAINING_MESSAGE);
    await this.crossNode?.claim(conversation);
  }

  /** The `send_email` call a `propose_reply` records, from the user; `tool_error` while no mail server offers one. */
  replyCall(userEmail: string, reply: ReplyToSend): ProposedCall {
    const { prepareArguments, grantTarget } = this.options;
    const call = replyCall({ sendTool: this.options.sendMailTool?.(), prepareArguments, grantTarget: (name) => grantTarget?.(name) }, reply, userEmail);
    if (!call) throw new RuntimeError(ErrorCode.ToolError, 'No mail server can send mail right now (none offers send_email); try again in a moment.');
    return call;
  }

  send(conversation: LiveConversation, event: Extract<ConversationEvent, { type: 'CHAT' | 'PROPOSE' | 'CANCEL' | 'APPROVE' | 'REJECT' }>): void {
    const startsTurn = event.type === 'CHAT' || event.type === 'PROPOSE';
    // Checked here, not in the machine: a refused turn must not reach the actor (nor its journal) at all.
    if (startsTurn && this.draining) throw new RuntimeError(ErrorCode.Busy, DRAINING_MESSAGE);
    conversation.lastActiveAt = Date.now();
    if (event.type === 'CHAT' || event.type === 'PROPOSE') titleIfUntitled(conversation, event.text, this.options);
    if (event.type === 'APPROVE' && event.arguments) {
      const { callId, arguments: edited } = event;
      const call = conversation.actor.getSnapshot().context.batch.find((c) => c.id === callId);
      if (call) event = { ...event, arguments: this.options.prepareArguments(call.name, edited, conversation.userEmail) };
    }
    conversation.actor.send(event);
    // Refused by the machine, or a decision that leaves the step waiting on the next one: the turn stays free.
    if (!isBusy(conversation)) this.crossNode?.turnOver(conversation);
  }

  /** A socket here subscribed to the conversation: with nodes sharing it, this node follows its stream from now on. */
  watching(conversation: LiveConversation): void {
    this.options.crossNode?.followedChanged();
    conversation.lastActiveAt = Date.now();
  }

  /** The user's Stop: for the turn running here, or, with nodes sharing conversations, wherever it runs. */
  async cancel(conversation: LiveConversation): Promise<void> {
    if (!this.crossNode || (await this.crossNode.cancel(conversation))) this.send(conversation, { type: 'CANCEL' });
  }

  /** Every live conversation actor of this process. */
  conversations(): LiveConversation[] {
    return [...this.live.values()];
  }

  private async evict(conversation: LiveConversation): Promise<void> {
    this.live.delete(conversation.id);
    conversation.actor.stop();
    this.options.turns?.end(conversation.id, STOPPED_MID_TURN);
    this.options.lifecycle?.stopped(conversation);
    await this.options.store.saveLastSeq(conversation.id, conversation.channel.lastSeq);
  }

  async sweepIdle(now = Date.now()): Promise<void> {
    for (const conversation of [...this.live.values()]) {
      if (isEvictable(conversation, now, this.eviction)) {
        await this.evict(conversation).catch((err) =>
          this.options.logger.warn({ conversationId: conversation.id, err: errorMessage(err) }, 'could not save sequence on eviction'),
        );
      }
    }
  }

  /**
   * Stops every actor and records sequence numbers. Answers still in flight are cut without being saved: call
   * `drain()`, `whenIdle()` and `cancelBusy()` first for a graceful stop. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.draining = true;
    clearInterval(this.sweepTimer);
    this.crossNode?.close();
    const results = await Promise.allSettled([...this.live.values()].map((c) => this.evict(c)));
    for (const result of results) {
      if (result.status === 'rejected') this.options.logger.warn({ err: errorMessage(result.reason) }, 'could not save a conversation on close');
    }
  }
}
