import { ROOT_CONTEXT, SpanKind, createContextKey, trace, type Context, type Span } from '@opentelemetry/api';
import { GenAiAttr, GenAiOperation, RuntimeAttr } from './gen-ai-attributes.js';
import type { Tracing } from './setup-tracing.js';
import { markFailed } from './span-status.js';

/** `gen_ai.agent.name` of every turn: the assistant as a whole (there is one agent, with tools). */
export const AGENT_NAME = 'ai-runtime';

/** The conversation a turn's context belongs to, for the spans under it (`gen_ai.conversation.id`). */
const CONVERSATION_ID = createContextKey('ai-runtime.conversation-id');

/** The conversation whose turn `context` is, when it is one; spans of that turn carry it. */
export function conversationIdOf(context: Context | undefined): string | undefined {
  const id = context?.getValue(CONVERSATION_ID);
  return typeof id === 'string' ? id : undefined;
}

/** How a turn ended when nothing went wrong: its answer came, or it waits for a person's decision. */
const QUIET_ENDINGS: ReadonlySet<string> = new Set(['complete', 'awaiting_approval']);

export interface TurnAgent {
  /** The primary provider and model (a fallback that answered shows on its own `chat` span). */
  provider: string;
  model: string;
}

/**
 * The `invoke_agent` span of each conversation's running turn: the root of that turn's trace, parent of its `chat` and
 * `execute_tool` spans. It opens at the turn's first call (so a message refused as busy makes no trace) and ends when
 * the conversation is quiet again or its actor stops; the hub says which. With tracing off nothing is ever opened.
 */
export class TurnSpans {
  private readonly open = new Map<string, { span: Span; context: Context }>();

  constructor(
    private readonly tracing: Tracing,
    private readonly agent: TurnAgent,
  ) {}

  /** The context the turn's calls start their spans in; undefined with tracing off. */
  context(conversationId: string): Context | undefined {
    if (!this.tracing.enabled) return undefined;
    let turn = this.open.get(conversationId);
    if (!turn) {
      // Kind INTERNAL: the agent runs in this process (the conventions' "invoke agent internal span").
      const span = this.tracing.tracer.startSpan(
        `${GenAiOperation.InvokeAgent} ${AGENT_NAME}`,
        {
          kind: SpanKind.INTERNAL,
          attributes: {
            [GenAiAttr.OperationName]: GenAiOperation.InvokeAgent,
            [GenAiAttr.AgentName]: AGENT_NAME,
            [GenAiAttr.ConversationId]: conversationId,
            [GenAiAttr.ProviderName]: this.agent.provider,
            [GenAiAttr.RequestModel]: this.agent.model,
          },
        },
        ROOT_CONTEXT,
      );
      turn = { span, context: trace.setSpan(ROOT_CONTEXT.setValue(CONVERSATION_ID, conversationId), span) };
      this.open.set(conversationId, turn);
    }
    return turn.context;
  }

  /**
   * Ends the conversation's turn span, if one is open. `outcome` is the turn's (`complete`, `cancelled`, `error`,
   * `max_tool_steps`), or `awaiting_approval` (the rest runs as a new turn once decided), or `stopped` (the actor was
   * stopped mid-turn). Anything but an answer or a wait marks the span failed, with the outcome as `error.type`.
   */
  end(conversationId: string, outcome: string): void {
    const turn = this.open.get(conversationId);
    if (!turn) return;
    this.open.delete(conversationId);
    turn.span.setAttribute(RuntimeAttr.TurnOutcome, outcome);
    if (!QUIET_ENDINGS.has(outcome)) markFailed(turn.span, outcome);
    turn.span.end();
  }
}
