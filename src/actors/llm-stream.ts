import type { Context } from '@opentelemetry/api';
import { fromCallback, type CallbackActorLogic } from 'xstate';
import type { GrantTarget } from '../conversations/approval-grants.js';
import type { ChatMessage, ToolCallRequest } from '../conversations/chat-message.js';
import { TextBuilder } from '../conversations/text-builder.js';
import { ErrorCode, RuntimeError, errorMessage, type ErrorCode as ErrorCodeType } from '../errors.js';
import { estimateTextTokens, fitToContext } from '../llm/context-window.js';
import type { LlmClient } from '../llm/llm-client.js';
import { systemPrompt } from '../llm/system-prompt.js';
import type { ToolDescriptor } from '../mcp/tool-descriptor.js';

export interface LlmStreamInput {
  conversationId: string;
  userEmail: string;
  messages: readonly ChatMessage[];
}

export interface PlannedToolCall extends ToolCallRequest {
  requiresApproval: boolean;
  /** What an "always allow" for this call covers, from the catalog when it was planned; absent for an unknown name. */
  target?: GrantTarget;
}

/** Events the stream sends to its conversation. Tokens are not among them: they go straight to the relay. */
export type LlmStreamOutput =
  | { type: 'LLM.FIRST_TOKEN' }
  | { type: 'LLM.DONE'; content: string; toolCalls: PlannedToolCall[]; completionTokens: number; provider?: string }
  | { type: 'LLM.ERROR'; code: ErrorCodeType; message: string; partial: string }
  | { type: 'LLM.CANCELLED'; partial: string };

export type LlmStreamCommand = { type: 'ABORT' };

export interface LlmStreamDeps {
  llm: LlmClient;
  tools: () => readonly ToolDescriptor[];
  requiresApproval: (tool: string) => boolean;
  /** The tool behind an exposed name, for grants; undefined when no server offers it. */
  grantTarget: (tool: string) => GrantTarget | undefined;
  /** Rewrites a call's arguments before anyone sees them (mailbox pinning); identity for most tools. */
  prepareArguments: (tool: string, args: Record<string, unknown>, userEmail: string) => Record<string, unknown>;
  /** Sends one token to the conversation's subscribers; the hot path, so it skips the machine entirely. */
  relay: (conversationId: string, text: string) => void;
  /**
   * Tokens the request may take before the reply: the context window minus the reply's `max_tokens`, for every
   * provider that may answer. The system prompt and the tool schemas are counted against it first; the history gets
   * the rest. Asked each step: the first ask may read the model's own window from its server.
   */
  promptBudgetTokens: () => Promise<number>;
  /** The history within a budget, older turns folded into a stored summary; without it they are only left out. */
  foldHistory?: (conversationId: string, messages: readonly ChatMessage[], budgetTokens: number, signal: AbortSignal) => Promise<readonly ChatMessage[]>;
  metrics?: LlmStreamMetrics;
  /** The trace of the conversation's running turn, which the request's `chat` span joins; absent or undefined: none. */
  traceContext?: (conversationId: string) => Context | undefined;
}

export interface LlmStreamMetrics {
  /** Once per request that streams any text: seconds from the request to its first token. */
  firstToken(seconds: number): void;
  /** Once per answered request: who answered and the tokens it counted. */
  answered(provider: string, promptTokens: number, completionTokens: number): void;
}

/** Whatever the tools cost, the question and some history are sent: a model without them cannot answer at all. */
const MIN_HISTORY_TOKENS = 256;

export type LlmStreamLogic = CallbackActorLogic<LlmStreamCommand, LlmStreamInput>;

/**
 * One LLM request. Tokens are relayed as they arrive; the machine only hears about the first one (to enter
 * `streaming`) and the end. `ABORT` closes the HTTP stream and answers `LLM.CANCELLED` with what was shown so far.
 */
export function createLlmStreamLogic(deps: LlmStreamDeps): LlmStreamLogic {
  return fromCallback<LlmStreamCommand, LlmStreamInput>(({ input, sendBack, receive }) => {
    const controller = new AbortController();
    // Not `content += token`: a rope of one node per token costs ~8× the answer's size until it is read.
    const content = new TextBuilder();
    let settled = false;
    const finish = (event: LlmStreamOutput) => {
      if (settled) return;
      settled = true;
      sendBack(event);
    };

    receive((command) => {
      if (command.type !== 'ABORT') return;
      controller.abort();
      finish({ type: 'LLM.CANCELLED', partial: content.toString() });
    });

    const run = async () => {
      const toolCalls: PlannedToolCall[] = [];
      let completionTokens = 0;
      let provider: string | undefined;
      const requestedAt = performance.now();
      const system = systemPrompt({ userEmail: input.userEmail });
      const tools = deps.tools();
      const fixed = estimateTextTokens(system) + estimateTextTokens(JSON.stringify(tools));
      const budget = Math.max(MIN_HISTORY_TOKENS, (await deps.promptBudgetTokens()) - fixed);
      if (settled) return;
      const messages = deps.foldHistory ? await deps.foldHistory(input.conversationId, input.messages, budget, controller.signal) : fitToContext(input.messages, budget);
      if (settled) return;
      const stream = deps.llm.stream({ system, messages, tools, signal: controller.signal, trace: deps.traceContext?.(input.conversationId) });
      for await (const event of stream) {
        if (settled) return;
        switch (event.type) {
          case 'token':
            if (content.length === 0) {
              sendBack({ type: 'LLM.FIRST_TOKEN' } satisfies LlmStreamOutput);
              deps.metrics?.firstToken((performance.now() - requestedAt) / 1000);
            }
            content.append(event.text);
            deps.relay(input.conversationId, event.text);
            break;
          case 'tool_calls':
            for (const call of event.calls) {
              const target = deps.grantTarget(call.name);
              toolCalls.push({
                // The global Web Crypto (not node:crypto): browser code type-imports this module through the protocol types.
                id: `call_${crypto.randomUUID().slice(0, 8)}`,
                name: call.name,
                arguments: deps.prepareArguments(call.name, call.arguments, input.userEmail),
                requiresApproval: deps.requiresApproval(call.name),
                ...(target ? { target } : {}),
              });
            }
            break;
          case 'done':
            completionTokens = event.completionTokens;
            provider = event.provider;
            deps.metrics?.answered(event.provider ?? 'unknown', event.promptTokens, event.completionTokens);
            break;
        }
      }
      // Before the event: the machine leaves the state on it and stops this actor at once, before `run()` settles.
      requestOver = true;
      finish({ type: 'LLM.DONE', content: content.toString(), toolCalls, completionTokens, ...(provider ? { provider } : {}) });
    };

    let requestOver = false;
    run()
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        const code = error instanceof RuntimeError ? error.code : ErrorCode.LlmError;
        finish({ type: 'LLM.ERROR', code, message: errorMessage(error), partial: content.toString() });
      })
      .finally(() => {
        requestOver = true;
      });

    // Stopping the actor (state exited for any reason) aborts the request; late results are dropped by `settled`. A
    // request already over is left alone: an abort makes a DOMException, and undici then tears down its connection.
    return () => {
      settled = true;
      if (!requestOver) controller.abort();
    };
  });
}
