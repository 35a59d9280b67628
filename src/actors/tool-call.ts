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
        sendBack({ type: 'TOOL.RESULT', callId: input.callId, result, durationMs: performance.now() - startedAt } satisfies ToolCallOutput);
      })
      .catch(() => undefined);
    return () => controller.abort();
  });
}
