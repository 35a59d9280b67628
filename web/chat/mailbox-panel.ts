import { byTestId, h } from './dom.ts';
import { describeFailure, mailAccount, type AccountResult, type ConnectedAccount } from './mail-account-api.ts';

/** The panel's controls, from index.html. */
function elements(dialog: HTMLDialogElement) {
  return {
    loading: byTestId('mailbox-loading', dialog),
    accountView: byTestId('mailbox-account', dialog),
    details: byTestId('mailbox-details', dialog),
    managed: byTestId('mailbox-managed', dialog),
    disconnectButton: byTestId<HTMLButtonElement>('mailbox-disconnect', dialog),
    form: byTestId<HTMLFormElement>('mailbox-form', dialog),
    imap: byTestId<HTMLInputElement>('mailbox-imap', dialog),
    smtp: byTestId<HTMLInputElement>('mailbox-smtp', dialog),
    username: byTestId<HTMLInputElement>('mailbox-username', dialog),
    password: byTestId<HTMLInputElement>('mailbox-password', dialog),
    saveSent: byTestId<HTMLInputElement>('mailbox-save-sent', dialog),
    connectButton: byTestId<HTMLButtonElement>('mailbox-connect', dialog),
    error: byTestId('mailbox-error', dialog),
    progress: byTestId('mailbox-progress', dialog),
  };
}

const WATCH_LABELS: Record<NonNullable<ConnectedAccount['watch']>['state'], string> = {
  watching: 'Watching for new mail',
  connecting: 'Connecting…',
  retrying: 'Cannot reach it; retrying',
};

/**
 * The "Mailbox" settings: the connected IMAP/SMTP account, or a form to connect one. The password goes into one
 * request and is cleared from the form right after; it is never stored by the page.
 */
export class MailboxPanel {
  private readonly ui: ReturnType<typeof elements>;
  /** Bumped by every request: an answer that comes back after a newer request was made is dropped, not shown. */
  private generation = 0;

  constructor(private readonly dialog: HTMLDialogElement) {
    this.ui = elements(dialog);
    byTestId('mailbox-close', dialog).addEventListener('click', () => dialog.close());
    this.ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.connect();
    });
    this.ui.disconnectButton.addEventListener('click', () => void this.disconnect());
    for (const preset of dialog.querySelectorAll<HTMLButtonElement>('[data-testid=mailbox-preset]')) {
      preset.addEventListener('click', () => {
        this.ui.imap.value = preset.dataset['imap'] ?? '';
        this.ui.smtp.value = preset.dataset['smtp'] ?? '';
        this.ui.username.focus();
      });
    }
  }

  open(): void {
    if (!this.dialog.open) this.dialog.showModal();
    this.showError(undefined);
    void this.refresh();
  }

  private async refresh(): Promise<void> {
    this.ui.loading.hidden = false;
    this.ui.accountView.hidden = true;
    this.ui.form.hidden = true;
    const result = await this.request(() => mailAccount.get());
    if (result) this.show(result);
  }

  private async connect(): Promise<void> {
    const request = {
      imap_url: this.ui.imap.value.trim(),
      smtp_url: this.ui.smtp.value.trim(),
      username: this.ui.username.value.trim(),
      password: this.ui.password.value,
      save_sent: this.ui.saveSent.checked,
    };
    // Gone from the page before the answer is back, whatever it says: the user types it again to retry.
    this.ui.password.value = '';
    this.showError(undefined);
    this.ui.connectButton.disabled = true;
    this.ui.progress.textContent = 'Trying your mailbox: logging in to IMAP and SMTP. This can take up to a minute…';
    const result = await this.request(() => mailAccount.connect(request));
    this.ui.connectButton.disabled = false;
    this.ui.progress.textContent = '';
    if (result) this.show(result);
  }

  private async disconnect(): Promise<void> {
    this.ui.disconnectButton.disabled = true;
    const result = await this.request(() => mailAccount.disconnect());
    this.ui.disconnectButton.disabled = false;
    if (result) this.show(result);
  }

  /** Runs one request; `undefined` when a newer one was made meanwhile. */
  private async request(send: () => Promise<AccountResult>): Promise<AccountResult | undefined> {
    const generation = ++this.generation;
    const result = await send();
    return generation === this.generation ? result : undefined;
  }

  private show(result: AccountResult): void {
    this.ui.loading.hidden = true;
    if (!result.ok) {
      // A failed read leaves nothing to show but the form; a failed change keeps what was on screen.
      if (this.ui.accountView.hidden) this.ui.form.hidden = false;
      return this.showError(result);
    }
    this.showError(undefined);
    const { account } = result;
    this.ui.accountView.hidden = !account.connected;
    this.ui.form.hidden = account.connected;
    if (!account.connected) return this.ui.imap.focus();
    this.renderAccount(account);
    // Ready for a reconnect with other settings after a disconnect: only the password is to type again.
    this.ui.imap.value = account.imap_url;
    this.ui.smtp.value = account.smtp_url;
    this.ui.username.value = account.username;
    this.ui.saveSent.checked = account.save_sent;
  }

  private renderAccount(account: ConnectedAccount): void {
    const row = (label: string, value: string, testId?: string) => [h('dt', {}, label), h('dd', testId ? { 'data-testid': testId } : {}, value)];
    // No watcher when the mail server does not announce new mail: the account still works for the tools.
    const state = account.watch?.state;
    const watch = h('dd', { 'data-testid': 'mailbox-watch', 'data-state': state ?? 'off' }, state ? WATCH_LABELS[state] : 'Not watched for new mail');
    if (account.watch?.last_error) watch.append(h('span', { class: 'watch-error' }, ` (${account.watch.last_error})`));
    this.ui.details.replaceChildren(
      ...row('IMAP', account.imap_url, 'mailbox-shown-imap'),
      ...row('SMTP', account.smtp_url, 'mailbox-shown-smtp'),
      ...row('Username', account.username, 'mailbox-shown-username'),
      ...row('Set up by', account.source === 'config' ? 'The operator' : 'You', 'mailbox-source'),
      ...row('Sent mail', account.save_sent ? 'A copy is saved in Sent' : 'Not saved', 'mailbox-shown-save-sent'),
      h('dt', {}, 'Status'),
      watch,
    );
    const byOperator = account.source === 'config';
    this.ui.managed.hidden = !byOperator;
    this.ui.disconnectButton.hidden = byOperator;
  }

  private showError(result: Extract<AccountResult, { ok: false }> | undefined): void {
    if (!result) return void this.ui.error.replaceChildren();
    const { advice, detail } = describeFailure(result);
    this.ui.error.replaceChildren(h('span', { 'data-testid': 'mailbox-error-advice' }, advice), ...(detail ? [h('span', { class: 'error-detail' }, detail)] : []));
  }
}
