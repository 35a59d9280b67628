import { proposalText, type ReplyToSend } from '../../src/replies/reply-proposal.ts';
import type { ApprovalPanel, PendingCall } from './approval-panel.ts';
import type { ClientMessage, ConversationState, Msg } from './protocol-types.ts';
import type { ConversationView } from './render-conversation.ts';
import { saved } from './store.ts';

const BUSY: ReadonlySet<ConversationState> = new Set(['thinking', 'streaming', 'calling_tool', 'awaiting_approval']);

type ConversationEvent = Msg<'state' | 'chunk' | 'tool_call' | 'tool_result' | 'approval_required' | 'done'> | (Msg<'error'> & { conversation_id: string; seq: number });

export interface SessionUi {
  view: ConversationView;
  approval: ApprovalPanel;
  send(message: ClientMessage): boolean;
  /** The state changed, or whether sending is possible did. */
  changed(state: ConversationState): void;
  /** The shown conversation changed. */
  shown(conversationId: string | undefined): void;
  /** A message the server refused goes back to the composer. */
  giveBack(text: string): void;
}

/** The conversation on screen, kept in step with the server: each event applied once, in order, and nothing lost. */
export class ChatSession {
  signedIn = false;
  busy = false;
  private state: ConversationState = 'idle';
  private conversationId = saved.conversation();
  /** The last event applied to the shown conversation; undefined until its history arrives. */
  private lastSeq: number | undefined;
  /** Set between `new_conversation` and its `history`; what to send once the conversation exists. */
  private creating: { message?: string | undefined; reply?: ReplyToSend } | undefined;
  /** The user's message until its first state event shows the server took it, so that a refusal can give it back. */
  private unconfirmed: { element: HTMLElement; text: string } | undefined;

  constructor(private readonly ui: SessionUi) {}

  get currentId(): string | undefined {
    return this.conversationId;
  }

  /** After (re)authentication: the missed events if the server still has them, else a history. */
  reattach(): void {
    this.signedIn = true;
    if (this.creating) this.ui.send({ type: 'new_conversation' });
    else if (this.conversationId) this.ui.send({ type: 'resume', conversation_id: this.conversationId, ...(this.lastSeq === undefined ? {} : { last_seq: this.lastSeq }) });
    this.setState(this.state);
  }

  disconnected(): void {
    this.signedIn = false;
    this.setState(this.state);
  }

  /** Sends a chat in the shown conversation, creating one first if needed; false when it cannot be sent now. */
  chat(text: string): boolean {
    if (!this.signedIn || this.busy || this.creating) return false;
    if (!this.conversationId) {
      this.startNew(text);
      return true;
    }
    this.unconfirmed = { element: this.ui.view.addUser(text), text };
    this.ui.send({ type: 'chat', message: text, conversation_id: this.conversationId });
    // Until the server's first state event, so that a double Enter cannot send twice.
    this.busy = true;
    this.ui.changed(this.state);
    return true;
  }

  /**
   * Puts a reply the user picked to the approval panel, in the shown conversation (a new one if none); false when it
   * cannot be now (the conversation is busy). Nothing is sent until the user approves it there.
   */
  proposeReply(reply: ReplyToSend): boolean {
    if (!this.signedIn || this.busy || this.creating) return false;
    if (!this.conversationId) {
      this.show(undefined);
      this.creating = { reply };
      this.ui.send({ type: 'new_conversation' });
      return true;
    }
    // The words the server records for the user's side of this turn; nothing to give back to the composer if refused.
    this.unconfirmed = { element: this.ui.view.addUser(proposalText(reply)), text: '' };
    this.ui.send({ type: 'propose_reply', ...reply, conversation_id: this.conversationId });
    this.busy = true;
    this.ui.changed(this.state);
    return true;
  }

  cancel(): void {
    if (this.busy && this.conversationId) this.ui.send({ type: 'cancel', conversation_id: this.conversationId });
  }

  startNew(message?: string): void {
    if (!this.signedIn) return;
    this.show(undefined);
    this.creating = { message };
    this.ui.send({ type: 'new_conversation' });
  }

  open(id: string): void {
    this.show(id);
    this.ui.send({ type: 'resume', conversation_id: id });
  }

  applyHistory(history: Msg<'history'>): void {
    const created = this.creating && history.seq === 0 && history.messages.length === 0;
    const pending = created ? this.creating : undefined;
    if (created) this.creating = undefined;
    else if (history.conversation_id !== this.conversationId) return;
    this.show(history.conversation_id);
    this.lastSeq = history.seq;
    const { view } = this.ui;
    view.showHistory(history.messages);
    if (history.draft && (history.state === 'thinking' || history.state === 'streaming')) view.appendChunk(history.draft);
    if (history.pending_approval) this.askApproval(history.pending_approval, history.conversation_id);
    this.setState(history.state);
    if (pending?.message) this.chat(pending.message);
    else if (pending?.reply) this.proposeReply(pending.reply);
  }

  /** Applies a conversation event; true when it ended a turn (of any conversation). */
  applyEvent(event: ConversationEvent): boolean {
    const ended = event.type === 'done';
    if (event.conversation_id !== this.conversationId || this.lastSeq === undefined) return ended;
    // Exactly once: a replay may repeat what this page already drew.
    if (event.seq <= this.lastSeq) return false;
    this.lastSeq = event.seq;
    const { view, approval } = this.ui;
    switch (event.type) {
      case 'state':
        this.unconfirmed = undefined;
        this.setState(event.state);
        break;
      case 'chunk':
        view.appendChunk(event.text);
        break;
      case 'tool_call':
        view.toolCall(event.call_id, event.tool);
        break;
      case 'approval_required':
        this.askApproval(event, event.conversation_id);
        break;
      case 'tool_result':
        approval.hide(event.call_id);
        view.toolResult(event.call_id, event);
        break;
      case 'error':
        view.error(event.message);
        break;
      case 'done':
        view.endAnswer(event.reason === 'cancelled' ? 'stopped' : undefined);
        approval.hide();
        break;
    }
    return ended;
  }

  /** An error that belongs to no conversation event: usually the answer to this page's last request. */
  socketError(error: Msg<'error'>): void {
    if (error.code === 'not_found' && this.lastSeq === undefined) {
      // The remembered conversation is gone (or was another user's): start afresh rather than wait for it.
      this.show(undefined);
      return;
    }
    const refused = this.creating?.message ?? this.unconfirmed?.text;
    this.unconfirmed?.element.remove();
    this.creating = this.unconfirmed = undefined;
    if (refused) this.ui.giveBack(refused);
    this.setState(this.state);
    this.ui.view.error(error.message);
  }

  private show(id: string | undefined): void {
    this.lastSeq = undefined;
    this.creating = this.unconfirmed = undefined;
    this.ui.view.clear();
    this.ui.approval.hide();
    this.conversationId = id;
    saved.setConversation(id);
    this.ui.shown(id);
    this.setState('idle');
  }

  private askApproval(call: PendingCall, conversationId: string): void {
    this.ui.approval.show(call, conversationId);
    this.ui.view.scrollToEnd();
  }

  private setState(state: ConversationState): void {
    this.state = state;
    this.busy = BUSY.has(state);
    this.ui.changed(state);
  }
}
