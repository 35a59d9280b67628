import { h } from './dom.ts';
import type { WireChatMessage } from './protocol-types.ts';
import { baseToolName, renderToolOutput, type EmailActions, type ToolOutput } from './render-tools.ts';

/** The messages list: history, the streamed answer, tool calls and their results, errors. */
export class ConversationView {
  /** The assistant message chunks go to; a tool call or the end of the turn closes it. */
  private answer: HTMLElement | undefined;

  constructor(
    private readonly list: HTMLElement,
    private readonly actions: EmailActions,
  ) {}

  clear(): void {
    this.list.replaceChildren();
    this.answer = undefined;
  }

  showHistory(messages: WireChatMessage[]): void {
    this.clear();
    for (const message of messages) {
      if (message.role === 'user') this.addUser(message.content);
      else if (message.role === 'tool') this.toolResult(message.call_id, message);
      else {
        if (message.content) this.appendChunk(message.content);
        if (message.interrupted) this.markStopped('interrupted');
        this.answer = undefined;
        for (const call of message.tool_calls ?? []) this.toolCall(call.call_id, call.tool);
      }
    }
  }

  addUser(text: string): HTMLElement {
    this.answer = undefined;
    return this.add(this.message('user', 'You', h('p', { class: 'text' }, text)));
  }

  appendChunk(text: string): void {
    if (!this.answer) this.answer = this.add(this.message('assistant', 'Assistant', h('p', { class: 'text' })));
    const body = this.answer.querySelector('.text');
    this.stick(() => {
      body?.append(text);
      body?.normalize();
    });
  }

  toolCall(callId: string, tool: string): void {
    this.answer = undefined;
    const line = h('p', { class: 'tool-line' }, `calling ${baseToolName(tool)}…`);
    this.add(this.message('tool', 'Tool', line)).dataset['callId'] = callId;
  }

  toolResult(callId: string, output: ToolOutput): void {
    this.answer = undefined;
    const existing = [...this.list.querySelectorAll<HTMLElement>('[data-role=tool]')].find((el) => el.dataset['callId'] === callId);
    const element = existing ?? this.add(this.message('tool', 'Tool', h('p', { class: 'tool-line' })));
    element.dataset['callId'] = callId;
    element.classList.toggle('failed', output.is_error);
    const line = element.querySelector('.tool-line');
    if (line) line.textContent = output.is_error ? `${baseToolName(output.tool)} failed` : baseToolName(output.tool);
    element.querySelector('.tool-output')?.remove();
    this.stick(() => element.append(h('div', { class: 'tool-output' }, renderToolOutput(output, this.actions))));
  }

  /** Ends the answer; `reason` labels a cut-short one ("stopped", "interrupted"). */
  endAnswer(reason?: string): void {
    if (reason) this.markStopped(reason);
    this.answer = undefined;
  }

  scrollToEnd(): void {
    this.list.scrollTop = this.list.scrollHeight;
  }

  error(text: string): void {
    this.answer = undefined;
    this.add(h('p', { class: 'error-line', 'data-testid': 'error', role: 'alert' }, text));
  }

  private markStopped(reason: string): void {
    const mark = h('span', { class: 'stopped' }, reason);
    const answer = this.answer;
    if (answer) this.stick(() => answer.append(mark));
    else this.add(h('p', { class: 'note' }, mark));
  }

  private message(role: 'user' | 'assistant' | 'tool', label: string, body: HTMLElement): HTMLElement {
    return h('article', { class: `message ${role}`, 'data-testid': 'message', 'data-role': role }, h('span', { class: 'visually-hidden' }, `${label}: `), body);
  }

  private add<T extends HTMLElement>(element: T): T {
    this.stick(() => this.list.append(element));
    return element;
  }

  // Keep following the conversation unless the reader has scrolled up to read something else.
  private stick(change: () => void): void {
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 120;
    change();
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }
}
