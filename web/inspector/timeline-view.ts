import type { TimelineEntry } from '../../src/inspector/inspector-protocol.js';
import { el } from './dom.js';

/** Entries kept on the page, as on the server. */
const MAX_ENTRIES = 500;

function describe(entry: TimelineEntry): string {
  switch (entry.kind) {
    case 'transition':
      return `${entry.from ?? '?'} → ${entry.to ?? '?'} (on ${entry.type})`;
    case 'event':
      return `${entry.type}${entry.from ? ` from ${entry.from}` : ''}${entry.to ? ` to ${entry.to}` : ''}`;
    case 'actor-start':
      return `${entry.actor ?? '?'} started`;
    case 'actor-stop':
      return `${entry.actor ?? '?'} ${entry.type}${entry.durationMs !== undefined ? ` after ${formatMs(entry.durationMs)}` : ''}`;
  }
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** The watched actor's timeline, with times relative to its first shown entry. */
export class TimelineView {
  private origin: number | undefined;

  constructor(private readonly list: HTMLOListElement) {}

  reset(entries: readonly TimelineEntry[]): void {
    this.origin = entries[0]?.at;
    this.list.replaceChildren(...entries.map((entry) => this.item(entry)));
  }

  append(entry: TimelineEntry): void {
    this.origin ??= entry.at;
    // Follow the live end only when the reader is there; someone scrolled up to read stays where they are.
    const atEnd = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 24;
    this.list.append(this.item(entry));
    if (atEnd) this.list.scrollTop = this.list.scrollHeight;
    while (this.list.childElementCount > MAX_ENTRIES) this.list.firstElementChild?.remove();
  }

  private item(entry: TimelineEntry): HTMLLIElement {
    const offset = `+${((entry.at - (this.origin ?? entry.at)) / 1000).toFixed(3)} s`;
    return el(
      'li',
      { 'data-testid': 'timeline-entry', 'data-kind': entry.kind, 'data-seq': String(entry.seq), 'data-type': entry.type },
      el('time', { class: 'offset', datetime: new Date(entry.at).toISOString() }, offset),
      el('span', { class: `kind kind-${entry.kind}` }, entry.kind),
      el('span', { class: 'what' }, describe(entry)),
      entry.detail ? el('code', { class: 'detail' }, JSON.stringify(entry.detail)) : null,
    );
  }
}
