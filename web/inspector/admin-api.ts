import type { ReplayResponse } from '../../src/inspector/inspector-protocol.js';

/** The admin HTTP endpoints, with the token the operator signed in with. */
export class AdminApi {
  constructor(
    private readonly token: string,
    private readonly operator: string | undefined,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, ...(this.operator ? { 'x-inspector-operator': this.operator } : {}), ...extra };
  }

  /** The conversation's journal as JSON text (revealed only when this operator revealed it). */
  async exportConversation(conversationId: string, reveal: boolean): Promise<string> {
    const response = await fetch(`/api/inspector/conversations/${encodeURIComponent(conversationId)}/export${reveal ? '?reveal=1' : ''}`, {
      headers: this.headers(),
    });
    return readOrThrow(response);
  }

  async replay(exportText: string): Promise<ReplayResponse> {
    const response = await fetch('/api/inspector/replay', { method: 'POST', headers: this.headers({ 'content-type': 'application/json' }), body: exportText });
    return JSON.parse(await readOrThrow(response)) as ReplayResponse;
  }
}

async function readOrThrow(response: Response): Promise<string> {
  const text = await response.text();
  if (response.ok) return text;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not JSON: the status line says enough.
  }
  throw new Error(message);
}
