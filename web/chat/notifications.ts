import { h } from './dom.ts';
import type { Msg } from './protocol-types.ts';
import { chipRow, readTriage } from './triage.ts';

export type EmailNotification = Msg<'email_notification'>;

const TOAST_MS = 8000;
const MAX_TOASTS = 3;

/**
 * New-mail toasts and the list of notifications, each email once however often the server repeats it. Spam gets
 * neither: it interrupts nobody, and waits in the priority inbox's folded spam section.
 */
export class Notifications {
  private readonly seen = new Set<string>();
  private newest: string | undefined;
  private ackTimer: number | undefined;

  constructor(
    private readonly list: HTMLElement,
    private readonly toasts: HTMLElement,
    private readonly onOpen: (notification: EmailNotification) => void,
    private readonly ack: (upTo: string) => void,
  ) {}

  add(notification: EmailNotification): void {
    if (this.seen.has(notification.email_id)) return;
    this.seen.add(notification.email_id);
    this.acknowledgeLater(notification.created_at);
    if (readTriage(notification).category === 'spam') return;
    const item = h('button', { type: 'button', class: 'notification', 'data-testid': 'notification' }, ...this.describe(notification));
    item.addEventListener('click', () => this.onOpen(notification));
    this.list.prepend(h('li', {}, item));
    this.toast(notification);
  }

  private acknowledgeLater(createdAt: string): void {
    if (!this.newest || Date.parse(createdAt) > Date.parse(this.newest)) this.newest = createdAt;
    // Sign-in replays a batch: acknowledge it once, after it has been shown.
    clearTimeout(this.ackTimer);
    this.ackTimer = setTimeout(() => this.newest && this.ack(this.newest), 500);
  }

  private describe(n: EmailNotification): Array<HTMLElement | undefined> {
    return [h('span', { class: 'n-from' }, n.from), h('span', { class: 'n-subject' }, n.subject), chipRow(readTriage(n)), h('span', { class: 'n-summary' }, n.summary)];
  }

  private toast(notification: EmailNotification): void {
    const dismiss = h('button', { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss' }, '×');
    const toast = h('div', { class: 'toast', 'data-testid': 'toast', role: 'status' }, h('p', { class: 'toast-title' }, 'New email'), ...this.describe(notification), dismiss);
    dismiss.addEventListener('click', () => toast.remove());
    setTimeout(() => toast.remove(), TOAST_MS);
    this.toasts.append(toast);
    while (this.toasts.childElementCount > MAX_TOASTS) this.toasts.firstElementChild?.remove();
  }
}
