import type { WireTriage } from '../../src/triage/triage.js';
import type { ChatScript } from './fake-ollama.js';

/** What a model answers when asked for a mail's summary and triage (the `email_triage` structured output). */
export function triageAnswer(summary: string, triage: Partial<WireTriage> = {}): { summary: string } & WireTriage {
  return { summary, category: 'work', priority: 'normal', needs_reply: false, ...triage };
}

/** A fake Ollama script answering a summary job: `summary`, and a triage (work, normal, no reply unless told). */
export function summaryAnswer(summary: string, triage: Partial<WireTriage> = {}): ChatScript {
  return { json: triageAnswer(summary, triage) };
}
