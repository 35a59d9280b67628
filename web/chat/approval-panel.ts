import { h } from './dom.ts';
import type { ClientMessage } from './protocol-types.ts';
import { baseToolName } from './render-tools.ts';

export interface PendingCall {
  call_id: string;
  tool: string;
  args: Record<string, unknown>;
}

interface Field {
  key: string;
  label: string;
  multiline: boolean;
  /** The server pins the sender to the signed-in user, so editing it would be a lie. */
  editable: boolean;
}

const KNOWN_FIELDS: Record<string, Field[]> = {
  send_email: [
    { key: 'from', label: 'From', multiline: false, editable: false },
    { key: 'to', label: 'To', multiline: false, editable: true },
    { key: 'subject', label: 'Subject', multiline: false, editable: true },
    { key: 'body', label: 'Body', multiline: true, editable: true },
  ],
  delete_email: [{ key: 'email_id', label: 'Email id', multiline: false, editable: true }],
};

function fieldsOf(call: PendingCall): Field[] {
  const known = KNOWN_FIELDS[baseToolName(call.tool)];
  if (known) return known.filter((f) => f.key in call.args);
  return Object.entries(call.args).map(([key, value]) => ({ key, label: key, multiline: typeof value === 'string' && value.includes('\n'), editable: typeof value === 'string' }));
}

function shown(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

/** Shows the exact call waiting for approval, lets the user edit its arguments, and answers approve or reject. */
/** "Always" for `send_email` covers only these recipients (the runtime asks again for anyone new). */
function alwaysLabel(tool: string): string {
  return baseToolName(tool) === 'send_email'
    ? 'Always allow sending to these recipients in this conversation'
    : 'Always allow this tool in this conversation';
}

export class ApprovalPanel {
  private callId: string | undefined;

  constructor(
    private readonly root: HTMLElement,
    private readonly send: (message: ClientMessage) => void,
  ) {}

  show(call: PendingCall, conversationId: string): void {
    this.callId = call.call_id;
    const fields = fieldsOf(call);
    const inputs = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
    const values = fields.map((field) => {
      // Tied to its input once editing starts: a label must name a form control.
      const label = h('label', {}, field.label);
      const value = h('div', { class: field.multiline ? 'value multiline' : 'value' }, shown(call.args[field.key]));
      return { field, label, value };
    });
    const title = h('h2', { tabindex: '-1' }, `Allow ${baseToolName(call.tool)}?`);
    const always = h('input', { type: 'checkbox', 'data-testid': 'always', id: 'approval-always' });
    const approve = h('button', { type: 'button', class: 'primary', 'data-testid': 'approve' }, 'Approve');
    const edit = h('button', { type: 'button', 'data-testid': 'edit' }, 'Edit');
    const reject = h('button', { type: 'button', class: 'danger', 'data-testid': 'reject' }, 'Reject');
    const answer = (message: ClientMessage) => {
      for (const button of [approve, edit, reject]) button.disabled = true;
      this.send(message);
    };

    edit.addEventListener('click', () => {
      for (const { field, label, value } of values) {
        if (!field.editable) continue;
        const id = `approval-${field.key}`;
        const input = field.multiline ? h('textarea', { id, rows: '6' }) : h('input', { id, type: 'text' });
        label.htmlFor = id;
        input.value = shown(call.args[field.key]);
        inputs.set(field.key, input);
        value.replaceWith(input);
      }
      edit.disabled = true;
      inputs.values().next().value?.focus();
    });
    approve.addEventListener('click', () => {
      const edited = inputs.size > 0 ? { ...call.args, ...Object.fromEntries([...inputs].map(([key, input]) => [key, input.value])) } : undefined;
      answer({ type: 'approve', call_id: call.call_id, conversation_id: conversationId, ...(edited ? { arguments: edited } : {}), ...(always.checked ? { always: true } : {}) });
    });
    reject.addEventListener('click', () => answer({ type: 'reject', call_id: call.call_id, conversation_id: conversationId }));

    this.root.replaceChildren(
      title,
      h('p', { class: 'hint' }, baseToolName(call.tool) === 'send_email' ? 'This exact email will be sent:' : 'The assistant wants to run this tool with:'),
      h('div', { class: 'fields' }, ...values.map(({ label, value }) => h('div', { class: 'field' }, label, value))),
      h('p', { class: 'always' }, always, h('label', { for: 'approval-always' }, alwaysLabel(call.tool))),
      h('div', { class: 'actions' }, approve, edit, reject),
    );
    this.root.hidden = false;
    // Announce the question without putting Enter on Approve: a stray keypress must not send an email.
    title.focus();
  }

  /** Hides the panel; with a call id, only if that call is the one shown. */
  hide(callId?: string): void {
    if (callId !== undefined && callId !== this.callId) return;
    this.callId = undefined;
    this.root.hidden = true;
    this.root.replaceChildren();
  }
}
