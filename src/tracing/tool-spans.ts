import { ROOT_CONTEXT, SpanKind, trace, type Span } from '@opentelemetry/api';
import type { ToolCallSpan } from '../actors/tool-call.js';
import type { ToolResult } from '../conversations/chat-message.js';
import { GenAiAttr, GenAiOperation } from './gen-ai-attributes.js';
import { toolResultContent } from './gen-ai-content.js';
import type { Tracing } from './setup-tracing.js';
import { CANCELLED, markFailed } from './span-status.js';
import { injectTrace, type TraceCarrier } from './trace-carrier.js';
import type { TurnSpans } from './turn-spans.js';

/** `error.type` of a call whose result is an error (the tool failed, refused, or could not be reached). */
const TOOL_ERROR = 'tool_error';

export interface ToolCallToTrace {
  conversationId: string;
  callId: string;
  tool: string;
  arguments: Record<string, unknown>;
}

/** `execute_tool {name}` spans, each under its turn's `invoke_agent` span. */
export class ToolSpans {
  constructor(
    private readonly tracing: Tracing,
    private readonly turns: TurnSpans,
    /** The tool's description, when the catalog has one (`gen_ai.tool.description`). */
    private readonly describe: (tool: string) => string | undefined = () => undefined,
  ) {}

  /** Undefined with tracing off: the actor then does no span work at all. */
  start(call: ToolCallToTrace): ToolCallSpan | undefined {
    if (!this.tracing.enabled) return undefined;
    const parent = this.turns.context(call.conversationId);
    const description = this.describe(call.tool);
    // Kind INTERNAL, as the conventions say for execute_tool; the MCP request it makes is its child in the server's trace.
    const span = this.tracing.tracer.startSpan(
      `${GenAiOperation.ExecuteTool} ${call.tool}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          [GenAiAttr.OperationName]: GenAiOperation.ExecuteTool,
          [GenAiAttr.ToolName]: call.tool,
          [GenAiAttr.ToolCallId]: call.callId,
          [GenAiAttr.ConversationId]: call.conversationId,
          ...(description ? { [GenAiAttr.ToolDescription]: description } : {}),
          ...(this.tracing.captureContent ? { [GenAiAttr.ToolCallArguments]: JSON.stringify(call.arguments) } : {}),
        },
      },
      parent,
    );
    return new OpenToolSpan(span, this.tracing.captureContent);
  }
}

/** The span's W3C Trace Context goes in the MCP request's `params._meta`: a server that traces joins the turn's trace. */
class OpenToolSpan implements ToolCallSpan {
  readonly meta: TraceCarrier | undefined;
  private ended = false;

  constructor(
    private readonly span: Span,
    private readonly captureContent: boolean,
  ) {
    this.meta = injectTrace(trace.setSpan(ROOT_CONTEXT, span));
  }

  finish(result: ToolResult): void {
    if (this.ended) return;
    this.ended = true;
    if (result.isError) markFailed(this.span, TOOL_ERROR, this.captureContent ? result.text : undefined);
    else if (this.captureContent) this.span.setAttribute(GenAiAttr.ToolCallResult, JSON.stringify(toolResultContent(result)));
    this.span.end();
  }

  cancel(): void {
    if (this.ended) return;
    this.ended = true;
    markFailed(this.span, CANCELLED);
    this.span.end();
  }
}
