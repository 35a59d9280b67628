import { describe, expect, it } from 'vitest';
import { CallDecision } from '../src/conversations/tool-batch.js';
import { summarizeContext } from '../src/inspector/context-summary.js';
import { redact } from '../src/inspector/redaction.js';
import type { ConversationContext } from '../src/machines/conversation-machine.js';

const context: ConversationContext = {
  conversationId: 'c1',
  userEmail: 'alice@example.com',
  messages: [{ role: 'user', content: 'Réponds à Bob' }],
  maxToolSteps: 5,
  persistedCount: 1,
  step: 1,
  grants: { allowed: [], mailTo: [{ server: 'mail', tool: 'send_email', addresses: ['carol@example.com'] }] },
  outcome: 'complete',
  batch: [{ id: 'call_1', name: 'send_email', arguments: { to: 'bob@example.com', subject: 'Secret plan', body: 'Meet at dawn' }, decision: CallDecision.Pending }],
};

describe('inspector redaction of the context', () => {
  it('hides every string of a pending approval\'s arguments until revealed', () => {
    const hidden = JSON.stringify(summarizeContext(context, false));
    for (const secret of ['bob@example.com', 'Secret plan', 'Meet at dawn', 'carol@example.com']) expect(hidden).not.toContain(secret);
    expect(hidden).toContain('send_email');
    expect(hidden).toContain('[redacted 12 chars]');
    const shown = JSON.stringify(summarizeContext(context, true));
    expect(shown).toContain('Meet at dawn');
  });

  it('hides the recipients an "always allow" for send_email covers (a restored actor\'s start record carries them)', () => {
    const hidden = JSON.stringify(redact({ grants: context.grants }));
    expect(hidden).not.toContain('carol@example.com');
    expect(hidden).toContain('send_email');
  });
});
