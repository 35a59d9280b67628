import type { ActorSummary } from '../../src/inspector/inspector-protocol.js';
import { el, setText, timeOfDay } from './dom.js';

interface Row {
  readonly tr: HTMLTableRowElement;
  readonly cells: Record<'user' | 'state' | 'since' | 'pending' | 'tokens', HTMLTableCellElement>;
  summary: ActorSummary;
}

export interface ActorTableOptions {
  body: HTMLTableSectionElement;
  empty: HTMLElement;
  count: HTMLElement;
  userFilter: HTMLInputElement;
  stateFilter: HTMLSelectElement;
  onOpen(conversationId: string): void;
}

/**
 * The live actor list. Rows are kept and updated in place (keyed by conversation id), so focus and selection survive
 * the frequent list updates.
 */
export class ActorTable {
  private readonly rows = new Map<string, Row>();
  private selected: string | undefined;

  constructor(private readonly options: ActorTableOptions) {
    options.userFilter.addEventListener('input', () => this.applyFilters());
    options.stateFilter.addEventListener('change', () => this.applyFilters());
  }

  update(actors: readonly ActorSummary[]): void {
    const seen = new Set<string>();
    for (const actor of actors) {
      seen.add(actor.id);
      const row = this.rows.get(actor.id) ?? this.createRow(actor);
      row.summary = actor;
      this.fill(row);
    }
    for (const [id, row] of this.rows) {
      if (seen.has(id)) continue;
      row.tr.remove();
      this.rows.delete(id);
    }
    setText(this.options.count, `(${this.rows.size})`);
    this.applyFilters();
  }

  select(conversationId: string | undefined): void {
    this.selected = conversationId;
    for (const [id, row] of this.rows) row.tr.dataset.selected = String(id === conversationId);
  }

  private createRow(actor: ActorSummary): Row {
    const open = el('button', { type: 'button', class: 'link', title: actor.id, 'aria-label': `Inspect conversation ${actor.id}` }, actor.id.slice(0, 8));
    const cell = (label: string, testId: string) => el('td', { 'data-label': label, 'data-testid': testId });
    const cells = {
      user: cell('User', 'actor-user'),
      state: cell('State', 'actor-state'),
      since: cell('Since', 'actor-since'),
      pending: cell('Pending tool', 'actor-pending-tool'),
      tokens: cell('Tokens', 'actor-tokens'),
    };
    const tr = el(
      'tr',
      { 'data-testid': 'actor-row', 'data-conversation-id': actor.id, 'data-selected': String(actor.id === this.selected) },
      el('td', { 'data-label': 'Conversation', 'data-testid': 'actor-id' }, open),
      cells.user,
      cells.state,
      cells.since,
      cells.pending,
      cells.tokens,
    );
    // The whole row opens the detail for the mouse; the button inside does it for the keyboard.
    tr.addEventListener('click', () => this.options.onOpen(actor.id));
    const row: Row = { tr, cells, summary: actor };
    this.rows.set(actor.id, row);
    this.options.body.append(tr);
    return row;
  }

  private fill({ tr, cells, summary }: Row): void {
    setText(cells.user, summary.user);
    setText(cells.state, summary.state);
    tr.dataset.state = summary.state;
    setText(cells.since, timeOfDay(summary.since));
    cells.since.title = new Date(summary.since).toISOString();
    setText(cells.pending, summary.pending_tool ?? '—');
    setText(cells.tokens, String(summary.tokens));
  }

  private applyFilters(): void {
    const user = this.options.userFilter.value.trim().toLowerCase();
    const state = this.options.stateFilter.value;
    let visible = 0;
    for (const { tr, summary } of this.rows.values()) {
      const shown = (user === '' || summary.user.toLowerCase().includes(user)) && (state === '' || summary.state === state);
      tr.hidden = !shown;
      if (shown) visible += 1;
    }
    this.options.empty.hidden = visible > 0;
  }
}
