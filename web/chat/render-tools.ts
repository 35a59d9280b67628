import { formatDate, h } from './dom.ts';

export interface EmailRef {
  id: string;
  from: string;
  subject: string;
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

function emailCard(email: Fields, onAsk: (email: EmailRef) => void): HTMLElement {
  const ref = { id: text(email, 'id'), from: text(email, 'from'), subject: text(email, 'subject') };
  const unread = email['seen'] === false;
  const card = h(
    'button',
    { type: 'button', class: unread ? 'email-card unread-card' : 'email-card', 'data-testid': 'email-card', 'data-email-id': ref.id },
    h('span', { class: 'card-top' }, h('span', { class: 'card-from' }, ref.from), h('span', { class: 'card-date' }, formatDate(text(email, 'date') || text(email, 'receivedAt')))),
    h('span', { class: 'card-subject' }, unread && h('span', { class: 'unread', 'data-testid': 'unread' }, 'unread'), ref.subject),
    h('span', { class: 'card-snippet' }, text(email, 'snippet')),
  );
  card.addEventListener('click', () => onAsk(ref));
  return card;
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
export function renderToolOutput(output: ToolOutput, onAsk: (email: EmailRef) => void): HTMLElement {
  const structured = output.structured;
  const tool = baseToolName(output.tool);
  if (!output.is_error && structured) {
    const emails = structured['emails'];
    if ((tool === 'list_emails' || tool === 'search_emails') && Array.isArray(emails) && emails.length > 0) {
      return h('div', { class: 'email-cards' }, ...emails.filter(isFields).map((email) => emailCard(email, onAsk)));
    }
    const email = structured['email'];
    if (tool === 'read_email' && isFields(email)) return emailView(email);
  }
  return h('pre', { class: output.is_error ? 'tool-text error' : 'tool-text' }, output.result);
}
