import { fromCallback, type CallbackActorLogic, type EventObject } from 'xstate';
import type { ToolResult } from '../conversations/chat-message.js';
import { errorMessage } from '../errors.js';

export interface ToolCallInput {
  conversationId: string;
  userEmail: string;
  callId: string;
  tool: string;
  arguments: Record<string, unknown>;
}

export type ToolCallOutput = { type: 'TOOL.RESULT'; callId: string; result: ToolResult; durationMs: number };

export interface ToolCallDeps {
  /** Must not throw for tool failures; they are results with `isError`. */
  callTool: (input: ToolCallInput, signal: AbortSignal) => Promise<ToolResult>;
  metrics?: ToolCallMetrics;
}

export interface ToolCallMetrics {
  /** Once per call that got a result (cancelled calls have none); `failed` when the result is an error. */
  toolCallFinished(tool: string, seconds: number, failed: boolean): void;
}

export type ToolCallLogic = CallbackActorLogic<EventObject, ToolCallInput>;

/** One tool call, as its own child actor so that each call is visible (and cancellable) on its own. */
export function createToolCallLogic(deps: ToolCallDeps): ToolCallLogic {
  return fromCallback<EventObject, ToolCallInput>(({ input, sendBack }) => {
    const controller = new AbortController();
    const startedAt = performance.now();
    deps
      .callTool(input, controller.signal)
      .catch((error: unknown): ToolResult => ({ text: `Tool "${input.tool}" failed: ${errorMessage(error)}`, isError: true }))
      .then((result) => {
        if (controller.signal.aborted) return;
        const durationMs = performance.now() - startedAt;
        sendBack({ type: 'TOOL.RESULT', callId: input.callId, result, durationMs } satisfies ToolCallOutput);
        // After sendBack: nothing here may keep the result from the conversation.
        deps.metrics?.toolCallFinished(input.tool, durationMs / 1000, result.isError);
      })
      .catch(() => undefined);
    return () => controller.abort();
  });
}
