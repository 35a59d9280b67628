import { byTestId, h } from './dom.ts';
import type { ApiResult } from './http-api.ts';
import { triageApi, type NewTriageRule, type TriageRule } from './triage-api.ts';
import { CATEGORY_LABELS, PRIORITY_LABELS, type Category, type Priority } from './triage.ts';

/** The panel's controls, from index.html. */
function elements(dialog: HTMLDialogElement) {
  return {
    list: byTestId('rules-list', dialog),
    form: byTestId<HTMLFormElement>('rule-form', dialog),
    from: byTestId<HTMLInputElement>('rule-from', dialog),
    subject: byTestId<HTMLInputElement>('rule-subject', dialog),
    words: byTestId<HTMLTextAreaElement>('rule-words', dialog),
    category: byTestId<HTMLSelectElement>('rule-category', dialog),
    priority: byTestId<HTMLSelectElement>('rule-priority', dialog),
    needsReply: byTestId<HTMLSelectElement>('rule-needs-reply', dialog),
    add: byTestId<HTMLButtonElement>('rule-add', dialog),
    error: byTestId('rules-error', dialog),
  };
}

/** "Leave as it is": the rule does not set this field. */
const ANY = '';

function fillSelect<K extends string>(select: HTMLSelectElement, labels: Record<K, string>, skip: K): void {
  const options = (Object.entries(labels) as Array<[K, string]>).filter(([value]) => value !== skip).map(([value, label]) => h('option', { value }, label));
  select.replaceChildren(h('option', { value: ANY }, '—'), ...options);
}

/** A rule in words: what it matches, then what it sets. */
export function describeRule(rule: TriageRule): string {
  const matches = [
    rule.from && `sender “${rule.from}”`,
    rule.subject && `subject “${rule.subject}”`,
    rule.words && `“${rule.words}”`,
  ].filter(Boolean);
  const sets = [
    rule.not_spam && 'not spam',
    rule.category && CATEGORY_LABELS[rule.category],
    rule.priority && `${PRIORITY_LABELS[rule.priority]} priority`,
    rule.needs_reply === true && 'needs a reply',
    rule.needs_reply === false && 'needs no reply',
  ].filter(Boolean);
  return `${matches.join(' and ') || 'Any mail'}${sets.length ? ` → ${sets.join(', ')}` : ''}`;
}

/**
 * The "Triage rules" settings: the user's own rules (they win over headers and the LLM), a form to add one, and a
 * delete button per rule. As the Mailbox panel, over the runtime's HTTP endpoints.
 */
export class TriageRulesPanel {
  private readonly ui: ReturnType<typeof elements>;
  /** Bumped by every list request: an answer that comes back after a newer one was asked for is dropped. */
  private generation = 0;

  constructor(
    private readonly dialog: HTMLDialogElement,
    /** The rules changed: what the inbox shows may too, for mail triaged from now on. */
    private readonly changed: () => void,
  ) {
    this.ui = elements(dialog);
    fillSelect<Category>(this.ui.category, CATEGORY_LABELS, 'unknown');
    fillSelect<Priority>(this.ui.priority, PRIORITY_LABELS, 'unknown');
    byTestId('rules-close', dialog).addEventListener('click', () => dialog.close());
    this.ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.add();
    });
  }

  open(): void {
    if (!this.dialog.open) this.dialog.showModal();
    this.showError(undefined);
    void this.refresh();
  }

  private async refresh(): Promise<void> {
    const generation = ++this.generation;
    const result = await triageApi.rules();
    if (generation !== this.generation) return;
    if (!result.ok) return this.showError(result);
    this.render(result.value);
  }

  private render(rules: TriageRule[]): void {
    this.ui.list.replaceChildren(
      ...rules.map((rule) => {
        const remove = h('button', { type: 'button', class: 'danger', 'data-testid': 'rule-delete', 'aria-label': `Delete the rule ${describeRule(rule)}` }, 'Delete');
        remove.addEventListener('click', () => void this.remove(rule, remove));
        return h('li', { class: 'rule', 'data-testid': 'rule', 'data-rule-id': rule.id }, h('span', { class: 'rule-text' }, describeRule(rule)), remove);
      }),
    );
  }

  /** The form as a rule; undefined (and the reason shown) when it says nothing to match. */
  private formRule(): NewTriageRule | undefined {
    const text = (input: HTMLInputElement | HTMLTextAreaElement) => input.value.trim();
    const { from, subject, words, category, priority, needsReply } = this.ui;
    const rule: NewTriageRule = {
      ...(text(from) ? { from: text(from) } : {}),
      ...(text(subject) ? { subject: text(subject) } : {}),
      ...(text(words) ? { words: text(words) } : {}),
      ...(category.value !== ANY ? { category: category.value as Category } : {}),
      ...(priority.value !== ANY ? { priority: priority.value as Priority } : {}),
      ...(needsReply.value !== ANY ? { needs_reply: needsReply.value === 'yes' } : {}),
    };
    if (rule.from || rule.subject || rule.words) return rule;
    this.showError({ ok: false, status: 0, message: 'Give a sender pattern, a subject pattern, or the rule in plain words.' });
    return undefined;
  }

  private async add(): Promise<void> {
    const rule = this.formRule();
    if (!rule) return;
    this.showError(undefined);
    this.ui.add.disabled = true;
    const result = await triageApi.addRule(rule);
    this.ui.add.disabled = false;
    if (!result.ok) return this.showError(result);
    this.ui.form.reset();
    this.changed();
    await this.refresh();
  }

  private async remove(rule: TriageRule, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    const result = await triageApi.deleteRule(rule.id);
    // 404: gone already (another tab deleted it); the list is redrawn without it.
    if (!result.ok && result.status !== 404) {
      button.disabled = false;
      return this.showError(result);
    }
    this.showError(undefined);
    this.changed();
    await this.refresh();
  }

  private showError(result: Extract<ApiResult<unknown>, { ok: false }> | undefined): void {
    this.ui.error.textContent = result?.message ?? '';
  }
}
