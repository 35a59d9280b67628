import { formatDate, h } from './dom.ts';
import type { Msg } from './protocol-types.ts';

type Summary = Msg<'conversations'>['conversations'][number];

/** The past conversations, newest first, the shown one marked. */
export function renderConversationList(list: HTMLElement, conversations: Summary[], currentId: string | undefined, onOpen: (id: string) => void): void {
  list.replaceChildren(
    ...conversations.map((c) => {
      const button = h(
        'button',
        { type: 'button', class: 'conversation', 'data-testid': 'conversation', 'data-conversation-id': c.id, 'aria-current': c.id === currentId ? 'true' : undefined },
        h('span', { class: 'c-title' }, c.title || 'New conversation'),
        h('span', { class: 'c-date' }, formatDate(c.updated_at)),
      );
      button.addEventListener('click', () => onOpen(c.id));
      return h('li', {}, button);
    }),
  );
}

export function markCurrentConversation(list: HTMLElement, currentId: string | undefined): void {
  for (const button of list.querySelectorAll<HTMLElement>('[data-testid=conversation]')) {
    if (button.dataset['conversationId'] === currentId) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');
  }
}
