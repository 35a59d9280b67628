import { formatDate, h } from './dom.ts';
import { replySuggestions, type ChooseReply } from './reply-drafts.ts';
import { chipRow, readTriage } from './triage.ts';

export interface EmailRef {
  id: string;
  from: string;
  subject: string;
}

/** What the user can do with an email shown in the conversation. */
export interface EmailActions {
  /** Ask the assistant about it. */
  ask(email: EmailRef): void;
  /** Hand a reply draft to the approval panel. */
  chooseReply: ChooseReply;
}

export interface ToolOutput {
  tool: string;
  result: string;
  structured?: Record<string, unknown> | undefined;
  is_error: boolean;
}

type Fields = Record<string, unknown>;

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// structuredContent comes from whatever MCP server answered: read it defensively, field by field.
function text(fields: Fields, key: string): string {
  const value = fields[key];
  return typeof value === 'string' ? value : '';
}

/**
 * One listed email: the card asks about it; below it, reply drafts on demand. Two sibling buttons, not one inside the
 * other (a button may not hold another).
 */
function emailCard(email: Fields, actions: EmailActions): HTMLElement {
  const ref = { id: text(email, 'id'), from: text(email, 'from'), subject: text(email, 'subject') };
  const unread = email['seen'] === false;
  const card = h(
    'button',
    { type: 'button', class: unread ? 'email-card unread-card' : 'email-card', 'data-testid': 'email-card', 'data-email-id': ref.id },
    h('span', { class: 'card-top' }, h('span', { class: 'card-from' }, ref.from), h('span', { class: 'card-date' }, formatDate(text(email, 'date') || text(email, 'receivedAt')))),
    h('span', { class: 'card-subject' }, unread && h('span', { class: 'unread', 'data-testid': 'unread' }, 'unread'), ref.subject),
    chipRow(readTriage(email)),
    h('span', { class: 'card-snippet' }, text(email, 'snippet')),
  );
  card.addEventListener('click', () => actions.ask(ref));
  const replies = replySuggestions(ref.id, actions.chooseReply);
  return h('div', { class: 'email-item', 'data-testid': 'email-item' }, card, h('div', { class: 'card-actions' }, replies.button), replies.area);
}

function emailView(email: Fields): HTMLElement {
  const header = h('dl', { class: 'email-headers' });
  for (const [label, key] of [['From', 'from'], ['To', 'to'], ['Cc', 'cc']] as const) {
    if (text(email, key)) header.append(h('dt', {}, label), h('dd', {}, text(email, key)));
  }
  header.append(h('dt', {}, 'Date'), h('dd', {}, formatDate(text(email, 'date') || text(email, 'receivedAt'))));
  const attachments = Array.isArray(email['attachments']) ? email['attachments'].filter(isFields) : [];
  return h(
    'article',
    { class: 'email-view', 'data-testid': 'email-view' },
    h('h3', {}, text(email, 'subject')),
    header,
    h('div', { class: 'email-text' }, text(email, 'text')),
    attachments.length > 0 && h('ul', { class: 'attachments', 'aria-label': 'Attachments' }, ...attachments.map((a) => h('li', {}, text(a, 'filename')))),
  );
}

/** Strips the `<server>__` prefix the runtime adds when two servers offer the same tool name. */
export function baseToolName(tool: string): string {
  return tool.split('__').pop() ?? tool;
}

/** A tool's result drawn as what it is: email cards, a readable email, or its text. */
export function renderToolOutput(output: ToolOutput, actions: EmailActions): HTMLElement {
  const structured = output.structured;
  const tool = baseToolName(output.tool);
  if (!output.is_error && structured) {
    const emails = structured['emails'];
    if ((tool === 'list_emails' || tool === 'search_emails') && Array.isArray(emails) && emails.length > 0) {
      return h('div', { class: 'email-cards' }, ...emails.filter(isFields).map((email) => emailCard(email, actions)));
    }
    const email = structured['email'];
    if (tool === 'read_email' && isFields(email)) return emailView(email);
  }
  return h('pre', { class: output.is_error ? 'tool-text error' : 'tool-text' }, output.result);
}
