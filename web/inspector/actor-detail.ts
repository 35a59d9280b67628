import type { InspectorServerMessageOf } from '../../src/inspector/inspector-protocol.js';
import { contextFacts } from './context-facts.js';
import { fillFacts, setText, timeOfDay } from './dom.js';
import { StatechartView } from './statechart-view.js';
import { TimelineView } from './timeline-view.js';

export interface ActorDetailElements {
  section: HTMLElement;
  id: HTMLElement;
  status: HTMLElement;
  statechart: HTMLElement;
  context: HTMLDListElement;
  timeline: HTMLOListElement;
  reveal: HTMLButtonElement;
}

type ActorState = Omit<InspectorServerMessageOf<'context'>, 'type'>;

/** The watched actor: its statechart, context and timeline, kept current from the socket's messages. */
export class ActorDetail {
  private readonly chart: StatechartView;
  private readonly timeline: TimelineView;
  conversationId: string | undefined;
  revealed = false;

  constructor(private readonly elements: ActorDetailElements) {
    this.chart = new StatechartView(elements.statechart);
    this.timeline = new TimelineView(elements.timeline);
  }

  watching(message: InspectorServerMessageOf<'watching'>): void {
    this.conversationId = message.conversation_id;
    this.elements.section.hidden = false;
    setText(this.elements.id, message.conversation_id);
    setText(this.elements.status, '');
    this.chart.draw(message.statechart);
    this.setRevealed(message.revealed);
    this.timeline.reset([]);
    this.update(message);
  }

  update(state: ActorState): void {
    if (state.conversation_id !== this.conversationId) return;
    this.chart.highlight(state.state);
    fillFacts(this.elements.context, [
      ['State', state.state],
      ['Since', timeOfDay(state.since)],
      ['Tokens', String(state.tokens)],
      ...contextFacts(state.context),
    ]);
  }

  timelineReset(message: InspectorServerMessageOf<'timeline'>): void {
    if (message.conversation_id !== this.conversationId) return;
    this.timeline.reset(message.entries);
  }

  entry(message: InspectorServerMessageOf<'entry'>): void {
    if (message.conversation_id === this.conversationId) this.timeline.append(message.entry);
  }

  setRevealed(revealed: boolean): void {
    this.revealed = revealed;
    this.elements.reveal.disabled = revealed;
    setText(this.elements.reveal, revealed ? 'Content revealed' : 'Reveal content');
  }

  /** The actor left the live list (evicted or closed); what was seen stays on screen. */
  markStopped(stopped: boolean): void {
    setText(this.elements.status, stopped ? '(actor stopped)' : '');
  }
}
