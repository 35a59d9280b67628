import type { ReplyToSend } from '../../src/replies/reply-proposal.ts';
import { h } from './dom.ts';
import { triageApi } from './triage-api.ts';

/** Hands a picked reply to the approval panel; the reason when it cannot now (the conversation is busy). */
export type ChooseReply = (reply: ReplyToSend) => string | undefined;

/**
 * "Suggest replies" for one email: a button, and under it the drafts the runtime wrote. A picked draft goes to the
 * approval panel, never straight out: the user reads (and may edit) the exact mail there before it is sent.
 */
export function replySuggestions(emailId: string, choose: ChooseReply): { button: HTMLButtonElement; area: HTMLElement } {
  const button = h('button', { type: 'button', class: 'suggest-replies', 'data-testid': 'suggest-replies' }, 'Suggest replies');
  const area = h('div', { class: 'reply-drafts', 'data-testid': 'reply-drafts', 'aria-live': 'polite' });
  area.hidden = true;
  button.addEventListener('click', (event) => {
    // Inside a clickable item: asking for drafts is not opening the email.
    event.stopPropagation();
    void suggest();
  });

  async function suggest(): Promise<void> {
    button.disabled = true;
    area.hidden = false;
    area.replaceChildren(h('p', { class: 'note', role: 'status' }, 'Writing reply drafts…'));
    const result = await triageApi.suggestReplies(emailId);
    button.disabled = false;
    button.textContent = 'Suggest again';
    if (!result.ok) return void area.replaceChildren(h('p', { class: 'form-error', 'data-testid': 'reply-drafts-error', role: 'alert' }, result.message));
    const { to, subject, drafts } = result.value;
    const outcome = h('p', { class: 'note', 'data-testid': 'reply-draft-outcome', role: 'status' });
    const choices = drafts.map((draft) => {
      const pick = h('button', { type: 'button', class: 'draft', 'data-testid': 'reply-draft' }, h('span', { class: 'visually-hidden' }, 'Use this reply: '), draft);
      pick.addEventListener('click', (event) => {
        event.stopPropagation();
        const refused = choose({ to, subject, body: draft });
        outcome.textContent = refused ?? 'Check it in the approval panel: edit it there if needed, then Approve to send it.';
      });
      return h('li', {}, pick);
    });
    area.replaceChildren(h('p', { class: 'drafts-head' }, `Replies to ${to}, “${subject}”:`), h('ul', { class: 'plain drafts' }, ...choices), outcome);
  }

  return { button, area };
}
