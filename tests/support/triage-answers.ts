import type { WireTriage } from '../../src/triage/triage.js';
import type { ChatScript } from './fake-ollama.js';

/** The JSON a model gives when asked for a mail's summary and triage (the `email_triage` structured output). */
export function triageAnswerText(summary: string, triage: Partial<WireTriage> = {}): string {
  return JSON.stringify({ summary, category: 'work', priority: 'normal', needs_reply: false, ...triage });
}

/** A fake Ollama script answering a summary job: `summary`, and a triage (work, normal, no reply unless told). */
export function summaryAnswer(summary: string, triage: Partial<WireTriage> = {}): ChatScript {
  return { tokens: [triageAnswerText(summary, triage)] };
}
