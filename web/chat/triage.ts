import type { WireTriage } from '../../src/triage/triage.ts';
import { h } from './dom.ts';

export type Triage = WireTriage;
export type Category = Triage['category'];
export type Priority = Triage['priority'];

/** Keyed by every category the server knows (the type says so): a new one fails the web type-check until named here. */
export const CATEGORY_LABELS: Record<Category, string> = {
  personal: 'Personal',
  work: 'Work',
  newsletter: 'Newsletter',
  notification: 'Notification',
  finance: 'Finance',
  spam: 'Spam',
  unknown: 'Uncategorized',
};
export const PRIORITY_LABELS: Record<Priority, string> = { high: 'High', normal: 'Normal', low: 'Low', unknown: 'Unknown' };

const isCategory = (value: unknown): value is Category => typeof value === 'string' && Object.hasOwn(CATEGORY_LABELS, value);
const isPriority = (value: unknown): value is Priority => typeof value === 'string' && Object.hasOwn(PRIORITY_LABELS, value);

export const NO_TRIAGE: Triage = { category: 'unknown', priority: 'unknown', needs_reply: null };

/**
 * The triage fields of a notification, a summary or a tool result's email, read field by field: a server that does not
 * triage (or a value this page does not know) leaves them unknown, never guessed.
 */
export function readTriage(fields: object): Triage {
  const record = fields as Record<string, unknown>;
  const needsReply = record['needs_reply'];
  return {
    category: isCategory(record['category']) ? record['category'] : 'unknown',
    priority: isPriority(record['priority']) ? record['priority'] : 'unknown',
    needs_reply: typeof needsReply === 'boolean' ? needsReply : null,
  };
}

/** The marks an email shows: its category (when known), "Important" when high, "Needs reply" when one is expected. */
export function triageChips(triage: Triage): HTMLElement[] {
  const chips: HTMLElement[] = [];
  if (triage.category !== 'unknown') {
    chips.push(h('span', { class: `chip category-${triage.category}`, 'data-testid': 'category-chip', 'data-category': triage.category }, CATEGORY_LABELS[triage.category]));
  }
  if (triage.priority === 'high') chips.push(h('span', { class: 'chip priority-high', 'data-testid': 'priority-chip' }, 'Important'));
  if (triage.needs_reply === true) chips.push(h('span', { class: 'chip needs-reply', 'data-testid': 'needs-reply' }, 'Needs reply'));
  return chips;
}

/** The chips in one inline group, or nothing when there are none. */
export function chipRow(triage: Triage): HTMLElement | undefined {
  const chips = triageChips(triage);
  return chips.length > 0 ? h('span', { class: 'chips' }, ...chips) : undefined;
}
