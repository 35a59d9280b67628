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
import type { EmailRef } from './render-tools.ts';
import { saved } from './store.ts';

const STATE_LABELS: Record<ConversationState, string> = {
  idle: 'Ready',
  thinking: 'Thinking…',
  streaming: 'Writing…',
  calling_tool: 'Using a tool…',
  awaiting_approval: 'Waiting for your approval',
  done: 'Done',
};
const QUICK_ACTIONS: Record<string, string> = {
  'unread-today': 'What are my unread emails today?',
  'important-today': 'What are my important emails today?',
  'summarize-inbox': 'Summarize my inbox.',
};
const COMPOSE_TEMPLATE = 'Send an email to name@example.com with the subject "…" saying: …';
const WIDE = '(min-width: 800px)';

const composer = byTestId<HTMLTextAreaElement>('composer');
const messagesList = byTestId('messages');
const conversationList = byTestId('conversations');
const approvalRoot = byTestId('approval');
const mailboxDialog = byTestId<HTMLDialogElement>('mailbox-panel');
const mailbox = new MailboxPanel(mailboxDialog);

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
  view: new ConversationView(messagesList, askAbout),
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

function askAbout(email: EmailRef): void {
  chatOrDraft(`Tell me about the email "${email.subject}" from ${email.from} (id ${email.id}).`);
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
      showChat();
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
      return notifications.add(message);
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
  // Escape inside the approval panel belongs to its fields, and in the mailbox panel it closes the panel: neither
  // stops the running turn.
  const target = event.target as Node;
  if (event.key === 'Escape' && !approvalRoot.contains(target) && !mailboxDialog.contains(target)) session.cancel();
});
byTestId('new-conversation').addEventListener('click', () => session.startNew());
for (const button of document.querySelectorAll<HTMLButtonElement>('[data-testid=quick-action]')) {
  button.addEventListener('click', () => {
    const message = QUICK_ACTIONS[button.dataset['action'] ?? ''];
    if (message) return chatOrDraft(message);
    composer.value = COMPOSE_TEMPLATE;
    composer.focus();
    composer.setSelectionRange(COMPOSE_TEMPLATE.indexOf('name@'), COMPOSE_TEMPLATE.indexOf(' with'));
  });
}

// Side panels start open where there is room for them, folded on a phone.
for (const id of ['conversations-panel', 'notifications-panel']) byId<HTMLDetailsElement>(id).open = matchMedia(WIDE).matches;
const handedOver = takeTokenFromFragment();
if (handedOver) remember({ token: handedOver });
// With remembered credentials the chat shows at once (its controls stay off until the server confirms them).
if (authMessage()) showChat();
else showSignin('');
link.start();
