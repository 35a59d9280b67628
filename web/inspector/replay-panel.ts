import type { ReplayStep } from '../../src/inspector/inspector-protocol.js';
import { contextFacts } from './context-facts.js';
import { fillFacts, setText, showError } from './dom.js';

export interface ReplayElements {
  section: HTMLElement;
  input: HTMLTextAreaElement;
  load: HTMLButtonElement;
  back: HTMLButtonElement;
  forward: HTMLButtonElement;
  step: HTMLElement;
  state: HTMLElement;
  event: HTMLElement;
  emitted: HTMLElement;
  context: HTMLDListElement;
  error: HTMLElement;
}

/** Steps back and forth through a replay the server computed from a pasted export. */
export class ReplayPanel {
  private steps: ReplayStep[] = [];
  private index = 0;

  constructor(
    private readonly elements: ReplayElements,
    private readonly replay: (exportText: string) => Promise<{ steps: ReplayStep[] }>,
  ) {
    elements.load.addEventListener('click', () => void this.load());
    elements.back.addEventListener('click', () => this.show(this.index - 1));
    elements.forward.addEventListener('click', () => this.show(this.index + 1));
    // Arrow keys step when the focus is in the panel, but not while editing the export.
    elements.section.addEventListener('keydown', (event) => {
      if (event.target === elements.input || this.steps.length === 0) return;
      if (event.key === 'ArrowLeft') this.show(this.index - 1);
      else if (event.key === 'ArrowRight') this.show(this.index + 1);
      else return;
      event.preventDefault();
    });
  }

  async load(): Promise<void> {
    showError(this.elements.error, undefined);
    this.elements.load.disabled = true;
    try {
      const { steps } = await this.replay(this.elements.input.value);
      this.steps = steps;
      this.show(0);
    } catch (error) {
      this.steps = [];
      this.show(0);
      showError(this.elements.error, error instanceof Error ? error.message : String(error));
    } finally {
      this.elements.load.disabled = false;
    }
  }

  private show(index: number): void {
    const { elements } = this;
    if (this.steps.length === 0) {
      this.index = 0;
      setText(elements.step, '0 / 0');
      for (const target of [elements.state, elements.event, elements.emitted]) setText(target, '');
      elements.context.replaceChildren();
      elements.back.disabled = true;
      elements.forward.disabled = true;
      return;
    }
    this.index = Math.min(Math.max(index, 0), this.steps.length - 1);
    const step = this.steps[this.index]!;
    setText(elements.step, `${this.index + 1} / ${this.steps.length}`);
    setText(elements.state, step.state);
    setText(elements.event, step.event);
    setText(elements.emitted, step.emitted.length > 0 ? step.emitted.join(', ') : '—');
    fillFacts(elements.context, contextFacts(step.context));
    const focused = document.activeElement;
    elements.back.disabled = this.index === 0;
    elements.forward.disabled = this.index === this.steps.length - 1;
    // A button that just became disabled drops the focus; hand it to the other one so the keyboard keeps its place.
    if (focused === elements.back && elements.back.disabled && !elements.forward.disabled) elements.forward.focus();
    if (focused === elements.forward && elements.forward.disabled && !elements.back.disabled) elements.back.focus();
  }
}
