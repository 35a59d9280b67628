import { formatDate, h } from './dom.ts';
import { replySuggestions, type ChooseReply } from './reply-drafts.ts';
import { triageApi, type InboxItem } from './triage-api.ts';
import { chipRow, type Triage } from './triage.ts';

export interface InboxActions {
  /** Ask the assistant about this email. */
  ask(item: InboxItem): void;
  chooseReply: ChooseReply;
}

/** Where an email goes in the inbox; the order here is the order on screen. */
const SECTIONS = [
  { key: 'important', label: 'Important', folded: false },
  { key: 'other', label: 'Everything else', folded: false },
  { key: 'newsletters', label: 'Newsletters', folded: true },
  { key: 'low', label: 'Notifications and low priority', folded: true },
  { key: 'spam', label: 'Spam', folded: true },
] as const;
type SectionKey = (typeof SECTIONS)[number]['key'];

/**
 * Spam is spam whatever its priority; otherwise "high" comes first, even for a newsletter (a rule may make one
 * important). Unknown triage (a summary from before triage, or the LLM gave none) stays in plain view, never folded.
 */
export function sectionOf(triage: Triage): SectionKey {
  if (triage.category === 'spam') return 'spam';
  if (triage.priority === 'high') return 'important';
  if (triage.category === 'newsletter') return 'newsletters';
  if (triage.category === 'notification' || triage.priority === 'low') return 'low';
  return 'other';
}

/** Refreshes asked for this close together (a sign-in replays a batch of notifications) make one request. */
const REFRESH_COALESCE_MS = 300;

/** The user's summarized mail by priority, the noise folded away; refreshed when new mail is announced. */
export class PriorityInbox {
  /** Bumped by every refresh: an answer that comes back after a newer request was made is dropped. */
  private generation = 0;
  private timer: number | undefined;
  /**
   * Each item's element, kept across refreshes while its content is the same: a refresh (new mail comes in often)
   * must not throw away drafts the user is reading.
   */
  private readonly drawn = new Map<string, { content: string; element: HTMLElement }>();
  /** Folded sections the user opened stay open across refreshes. */
  private readonly opened = new Set<SectionKey>();

  constructor(
    private readonly root: HTMLElement,
    private readonly actions: InboxActions,
  ) {}

  /** Soon, once: several calls in a row make one request. */
  refreshSoon(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), REFRESH_COALESCE_MS);
  }

  async refresh(): Promise<void> {
    clearTimeout(this.timer);
    const generation = ++this.generation;
    this.root.setAttribute('aria-busy', 'true');
    const result = await triageApi.summaries();
    if (generation !== this.generation) return;
    this.root.setAttribute('aria-busy', 'false');
    if (!result.ok) return void this.root.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, result.message));
    this.render(result.value);
  }

  private render(items: InboxItem[]): void {
    if (items.length === 0) return void this.root.replaceChildren(h('p', { class: 'empty-hint' }, 'Summarized mail shows up here, most important first.'));
    const bySection = new Map<SectionKey, InboxItem[]>();
    for (const item of items) {
      const key = sectionOf(item.triage);
      bySection.set(key, [...(bySection.get(key) ?? []), item]);
    }
    const shown = new Set(items.map((item) => item.email_id));
    for (const id of this.drawn.keys()) if (!shown.has(id)) this.drawn.delete(id);
    const sections = SECTIONS.flatMap(({ key, label, folded }) => {
      const list = bySection.get(key);
      if (!list) return [];
      const heading = `${label} (${list.length})`;
      const items = h('ul', { class: 'plain inbox-items' }, ...list.map((item) => this.itemElement(item)));
      if (!folded) return [h('section', { class: 'inbox-section', 'data-testid': 'inbox-section', 'data-section': key, 'aria-label': label }, h('h3', {}, heading), items)];
      const details = h('details', { class: 'inbox-section folded', 'data-testid': 'inbox-section', 'data-section': key, open: this.opened.has(key) }, h('summary', {}, heading), items);
      details.addEventListener('toggle', () => (details.open ? this.opened.add(key) : this.opened.delete(key)));
      return [details];
    });
    this.root.replaceChildren(...sections);
  }

  private itemElement(item: InboxItem): HTMLElement {
    const content = JSON.stringify([item.from, item.subject, item.summary, item.created_at, item.triage]);
    const drawn = this.drawn.get(item.email_id);
    if (drawn?.content === content) return drawn.element;
    const element = this.item(item);
    this.drawn.set(item.email_id, { content, element });
    return element;
  }

  private item(item: InboxItem): HTMLElement {
    const open = h(
      'button',
      { type: 'button', class: 'inbox-open' },
      h('span', { class: 'card-top' }, h('span', { class: 'card-from' }, item.from), h('span', { class: 'card-date' }, formatDate(item.created_at))),
      h('span', { class: 'card-subject' }, item.subject),
      chipRow(item.triage),
      h('span', { class: 'n-summary' }, item.summary),
    );
    open.addEventListener('click', () => this.actions.ask(item));
    const replies = replySuggestions(item.email_id, this.actions.chooseReply);
    const actions = h('div', { class: 'card-actions' }, replies.button);
    const status = h('p', { class: 'form-error', role: 'alert' });
    if (item.triage.category === 'spam') actions.append(this.notSpamButton(item, status));
    return h('li', { class: 'inbox-item', 'data-testid': 'inbox-item', 'data-email-id': item.email_id }, open, actions, status, replies.area);
  }

  private notSpamButton(item: InboxItem, status: HTMLElement): HTMLButtonElement {
    const button = h('button', { type: 'button', 'data-testid': 'not-spam' }, 'Not spam');
    button.addEventListener('click', () => {
      button.disabled = true;
      void triageApi.notSpam(item.email_id).then((result) => {
        button.disabled = false;
        // Moved out of spam by the server (and mail from this sender stays out): redrawn from its answer.
        if (result.ok) return this.refresh();
        status.textContent = result.message;
      });
    });
    return button;
  }
}
