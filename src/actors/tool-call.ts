import { fromCallback, type CallbackActorLogic, type EventObject } from 'xstate';
import type { ToolResult } from '../conversations/chat-message.js';
import { errorMessage } from '../errors.js';
import type { ToolRef } from '../mcp/planned-tool.js';

export interface ToolCallInput {
  conversationId: string;
  userEmail: string;
  callId: string;
  tool: string;
  arguments: Record<string, unknown>;
  /** The tool the call was planned for; absent when the catalog did not know the name then. */
  target?: ToolRef;
}

export type ToolCallOutput = { type: 'TOOL.RESULT'; callId: string; result: ToolResult; durationMs: number };

export interface ToolCallDeps {
  /**
   * Records, durably, that the call is about to be sent to its tool; resolved before it is. A restart then tells a
   * call that may have run from one that never did. False when the call must not be sent: it was started already
   * (elsewhere, on shared storage) or its approval was not saved.
   */
  markStarted: (input: ToolCallInput) => Promise<boolean>;
  /**
   * Why the call must not be sent at all (its name now leads to another tool), asked before it is marked started: a
   * call refused here never ran, and a restart must not read it as "may have run".
   */
  refuse?: (input: ToolCallInput) => ToolResult | undefined;
  /**
   * Must not throw for tool failures; they are results with `isError`. `meta` is the call's trace context, for the
   * request's `params._meta` (absent with tracing off).
   */
  callTool: (input: ToolCallInput, signal: AbortSignal, meta?: Record<string, string>) => Promise<ToolResult>;
  metrics?: ToolCallMetrics;
  /** Opens the call's trace span (`src/tracing/tool-spans.ts`); absent, or answering undefined, with tracing off. */
  spans?: { start(call: Pick<ToolCallInput, 'conversationId' | 'callId' | 'tool' | 'arguments'>): ToolCallSpan | undefined };
}

/**
 * One call's trace span, as the actor drives it. Declared here, not imported from `src/tracing`: the browser's code
 * type-imports this module (through the protocol), and the SDK's types are Node's.
 */
export interface ToolCallSpan {
  /** The span's trace context (`traceparent`, `tracestate`), for the MCP request's `params._meta`. */
  readonly meta: Record<string, string> | undefined;
  /** Ends the span with the call's result. Only the first of `finish` and `cancel` counts. */
  finish(result: ToolResult): void;
  /** Ends the span as cancelled (the call was stopped while it ran). */
  cancel(): void;
}

export interface ToolCallMetrics {
  /** Once per call that got a result (cancelled calls have none); `failed` when the result is an error. */
  toolCallFinished(tool: string, seconds: number, failed: boolean): void;
}

/** The marker found the call started already or without a saved decision: running it could send it twice. */
export const NOT_MARKED_RESULT: ToolResult = {
  text: 'Not run: this call was already started elsewhere, or its approval was not saved.',
  isError: true,
};

export type ToolCallLogic = CallbackActorLogic<EventObject, ToolCallInput>;

/** One tool call, as its own child actor so that each call is visible (and cancellable) on its own. */
export function createToolCallLogic(deps: ToolCallDeps): ToolCallLogic {
  return fromCallback<EventObject, ToolCallInput>(({ input, sendBack }) => {
    const controller = new AbortController();
    const startedAt = performance.now();
    const span = deps.spans?.start({ conversationId: input.conversationId, callId: input.callId, tool: input.tool, arguments: input.arguments });
    const run = async (): Promise<ToolResult> => {
      const refused = deps.refuse?.(input);
      if (refused) return refused;
      let marked: boolean;
      try {
        marked = await deps.markStarted(input);
      } catch (error) {
        // A call whose start is not on disk could run twice after a restart: it does not run at all.
        return { text: `Not run: could not record that the call started (${errorMessage(error)}).`, isError: true };
      }
      if (!marked) return NOT_MARKED_RESULT;
      // Cancelled while the marker was being written: the result is dropped below, and the tool is not bothered.
      if (controller.signal.aborted) return { text: 'Cancelled before it started.', isError: true };
      return deps.callTool(input, controller.signal, span?.meta);
    };
    run()
      .catch((error: unknown): ToolResult => ({ text: `Tool "${input.tool}" failed: ${errorMessage(error)}`, isError: true }))
      .then((result) => {
        if (controller.signal.aborted) return;
        // Before sendBack: the last result moves the machine on, which stops this actor, whose cleanup would cut the span.
        span?.finish(result);
        const durationMs = performance.now() - startedAt;
        sendBack({ type: 'TOOL.RESULT', callId: input.callId, result, durationMs } satisfies ToolCallOutput);
        // After sendBack: nothing here may keep the result from the conversation.
        deps.metrics?.toolCallFinished(input.tool, durationMs / 1000, result.isError);
      })
      .catch(() => undefined);
    return () => {
      controller.abort();
      // A no-op once the result is in: only a call still running is cut.
      span?.cancel();
    };
  });
}
