import type { ReplyToSend } from '../../src/replies/reply-proposal.ts';
import { ApprovalPanel } from './approval-panel.ts';
import { ChatSession } from './chat-session.ts';
import { Connection } from './connection.ts';
import { authMessage, forget, remember, takeTokenFromFragment } from './credentials.ts';
import { byId, byTestId } from './dom.ts';
import { MailboxPanel } from './mailbox-panel.ts';
import { Notifications } from './notifications.ts';
import type { ConversationState, ServerMessage } from './protocol-types.ts';
import { ConversationView } from './render-conversation.ts';
import { markCurrentConversation, renderConversationList } from './render-conversation-list.ts';
import { PriorityInbox } from './priority-inbox.ts';
import type { EmailRef } from './render-tools.ts';
import { saved } from './store.ts';
import { TriageRulesPanel } from './triage-rules-panel.ts';

const STATE_LABELS: Record<ConversationState, string> = {
  idle: 'Ready',
  thinking: 'Thinking…',
  streaming: 'Writing…',
  calling_tool: 'Using a tool…',
  awaiting_approval: 'Waiting for your approval',
  done: 'Done',
};

/** Today's date where the user is, as `list_emails`'s `since` takes it (YYYY-MM-DD). */
const pad = (n: number): string => String(n).padStart(2, '0');

/**
 * Midnight where the user is, with their UTC offset (`2026-11-28T00:00:00+09:00`): a bare date would mean midnight UTC
 * to the mail tools, which is not the start of the user's day east or west of Greenwich.
 */
function startOfToday(): string {
  const now = new Date();
  const offset = -now.getTimezoneOffset();
  const zone = `${offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}T00:00:00${zone}`;
}

/** Asked at click time: "today" is the day of the click, not of the page load. */
const QUICK_ACTIONS: Record<string, () => string> = {
  'unread-today': () => 'What are my unread emails today?',
  // Named so that the model uses the triage filter instead of reading the whole inbox and guessing.
  'important-today': () => `What are my important emails today? Use list_emails with priority "high" and since "${startOfToday()}".`,
  'summarize-inbox': () => 'Summarize my inbox.',
};
const COMPOSE_TEMPLATE = 'Send an email to name@example.com with the subject "…" saying: …';
const WIDE = '(min-width: 800px)';

const composer = byTestId<HTMLTextAreaElement>('composer');
const messagesList = byTestId('messages');
const conversationList = byTestId('conversations');
const approvalRoot = byTestId('approval');
const mailboxDialog = byTestId<HTMLDialogElement>('mailbox-panel');
const mailbox = new MailboxPanel(mailboxDialog);
const rulesDialog = byTestId<HTMLDialogElement>('rules-panel');

const link = new Connection(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, {
  open: () => {
    const auth = authMessage();
    if (auth) link.send(auth);
  },
  message: receive,
  status: (status) => {
    const indicator = byTestId('connection');
    indicator.textContent = status;
    indicator.dataset['status'] = status;
    // Sign-in belongs to a socket: the next one signs in again (see open).
    if (!link.open) session.disconnected();
  },
});
const session = new ChatSession({
  view: new ConversationView(messagesList, { ask: askAbout, chooseReply }),
  approval: new ApprovalPanel(approvalRoot, (message) => link.send(message)),
  send: (message) => link.send(message),
  changed: (state) => {
    byTestId('state').textContent = state;
    byId('state-label').textContent = STATE_LABELS[state];
    byTestId<HTMLButtonElement>('send').disabled = !session.signedIn || session.busy;
    byTestId<HTMLButtonElement>('stop').disabled = !session.signedIn || !session.busy;
    // Screen readers then read the answer once it is complete rather than token by token.
    messagesList.setAttribute('aria-busy', String(session.busy));
  },
  shown: (id) => markCurrentConversation(conversationList, id),
  giveBack: (text) => {
    if (!composer.value) composer.value = text;
  },
});
const notifications = new Notifications(
  byTestId('notifications'),
  byId('toasts'),
  (n) => session.startNew(`Tell me about the email "${n.subject}" from ${n.from} (id ${n.email_id}).`),
  (upTo) => link.send({ type: 'ack_notifications', up_to: upTo }),
);

const inbox = new PriorityInbox(byTestId('priority-inbox'), {
  ask: (item) => askAbout({ id: item.email_id, from: item.from, subject: item.subject }),
  chooseReply,
});
const rules = new TriageRulesPanel(rulesDialog, () => inbox.refreshSoon());

function askAbout(email: EmailRef): void {
  chatOrDraft(`Tell me about the email "${email.subject}" from ${email.from} (id ${email.id}).`);
}

/** A picked reply draft to the approval panel; the reason when it cannot go now. */
function chooseReply(reply: ReplyToSend): string | undefined {
  if (!session.signedIn) return 'Not connected: wait for the connection to come back, then choose again.';
  return session.proposeReply(reply) ? undefined : 'The assistant is busy: wait for it to finish (or stop it), then choose again.';
}

/** Sends now, or leaves the text in the composer when the conversation is busy. */
function chatOrDraft(text: string): void {
  if (!session.chat(text)) composer.value = text;
}

function refreshConversations(): void {
  link.send({ type: 'list_conversations' });
}

function receive(message: ServerMessage): void {
  switch (message.type) {
    case 'auth_success':
      byId('user').textContent = message.email;
      byId('signout').hidden = false;
      byId('mailbox-open').hidden = false;
      byId('rules-open').hidden = false;
      showChat();
      void inbox.refresh();
      refreshConversations();
      return session.reattach();
    case 'auth_error':
      // A refused token or address is dropped; a rate limit or a full node is not the credentials' fault.
      if (message.code === 'auth_failed') forget();
      return showSignin(message.message);
    case 'history':
      session.applyHistory(message);
      return refreshConversations();
    case 'conversations':
      return renderConversationList(conversationList, message.conversations, session.currentId, openConversation);
    case 'email_notification':
      notifications.add(message);
      return inbox.refreshSoon();
    case 'resumed':
    case 'pong':
      return;
    case 'error':
      if (message.conversation_id === undefined || message.seq === undefined) return session.socketError(message);
      if (session.applyEvent({ ...message, conversation_id: message.conversation_id, seq: message.seq })) refreshConversations();
      return;
    default:
      if (session.applyEvent(message)) refreshConversations();
  }
}

function openConversation(id: string): void {
  session.open(id);
  if (!matchMedia(WIDE).matches) byId<HTMLDetailsElement>('conversations-panel').open = false;
}

function showChat(): void {
  byId('signin-view').hidden = true;
  byId('chat-view').hidden = false;
}

function showSignin(error: string): void {
  byId('signin-view').hidden = false;
  byId('chat-view').hidden = true;
  byId('signin-error').textContent = error;
  byTestId<HTMLInputElement>('email').focus();
}

function submitComposer(): void {
  const text = composer.value.trim();
  if (text && session.chat(text)) composer.value = '';
}

byTestId<HTMLFormElement>('signin').addEventListener('submit', (event) => {
  event.preventDefault();
  const tokenField = byTestId<HTMLInputElement>('token');
  const token = tokenField.value.trim();
  const email = byTestId<HTMLInputElement>('email').value.trim();
  if (!token && !email) {
    byId('signin-error').textContent = 'Enter your email address (dev mode) or a sign-in token.';
    return;
  }
  remember(token ? { token } : { email });
  // The token lives in this tab's session storage from now on, not in the page.
  tokenField.value = '';
  const auth = authMessage();
  const sent = auth !== undefined && link.send(auth);
  byId('signin-error').textContent = sent ? '' : 'Not connected yet: signing in as soon as the connection is back.';
});
byId('mailbox-open').addEventListener('click', () => mailbox.open());
byId('rules-open').addEventListener('click', () => rules.open());
byTestId('inbox-rules').addEventListener('click', () => rules.open());
byTestId('inbox-refresh').addEventListener('click', () => void inbox.refresh());
byId('signout').addEventListener('click', () => {
  forget();
  saved.setConversation(undefined);
  // A socket cannot change users: a fresh page gets a fresh one.
  location.reload();
});
byId<HTMLFormElement>('composer-form').addEventListener('submit', (event) => {
  event.preventDefault();
  submitComposer();
});
composer.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submitComposer();
  }
});
byTestId('stop').addEventListener('click', () => session.cancel());
document.addEventListener('keydown', (event) => {
  // Escape inside the approval panel belongs to its fields, and in the mailbox or rules panel it closes the panel: neither
  // stops the running turn.
  const target = event.target as Node;
  if (event.key === 'Escape' && !approvalRoot.contains(target) && !mailboxDialog.contains(target) && !rulesDialog.contains(target)) session.cancel();
});
byTestId('new-conversation').addEventListener('click', () => session.startNew());
for (const button of document.querySelectorAll<HTMLButtonElement>('[data-testid=quick-action]')) {
  button.addEventListener('click', () => {
    const message = QUICK_ACTIONS[button.dataset['action'] ?? ''];
    if (message) return chatOrDraft(message());
    composer.value = COMPOSE_TEMPLATE;
    composer.focus();
    composer.setSelectionRange(COMPOSE_TEMPLATE.indexOf('name@'), COMPOSE_TEMPLATE.indexOf(' with'));
  });
}

// Side panels start open where there is room for them, folded on a phone.
for (const id of ['conversations-panel', 'inbox-panel', 'notifications-panel']) byId<HTMLDetailsElement>(id).open = matchMedia(WIDE).matches;
const handedOver = takeTokenFromFragment();
if (handedOver) remember({ token: handedOver });
// With remembered credentials the chat shows at once (its controls stay off until the server confirms them).
if (authMessage()) showChat();
else showSignin('');
link.start();
