/**
 * The names of the OpenTelemetry GenAI (and messaging) semantic conventions this runtime emits. Copied, not imported
 * from `@opentelemetry/semantic-conventions/incubating`, as that package advises for names still in development: one
 * of its minor versions may rename them, and what we emit should change only when we decide it does.
 */
export const GenAiAttr = {
  OperationName: 'gen_ai.operation.name',
  ProviderName: 'gen_ai.provider.name',
  ConversationId: 'gen_ai.conversation.id',
  AgentName: 'gen_ai.agent.name',
  RequestModel: 'gen_ai.request.model',
  RequestStream: 'gen_ai.request.stream',
  RequestMaxTokens: 'gen_ai.request.max_tokens',
  RequestTemperature: 'gen_ai.request.temperature',
  OutputType: 'gen_ai.output.type',
  ResponseModel: 'gen_ai.response.model',
  ResponseFinishReasons: 'gen_ai.response.finish_reasons',
  /** Seconds from the request to the first streamed chunk (text or tool call). */
  ResponseTimeToFirstChunk: 'gen_ai.response.time_to_first_chunk',
  UsageInputTokens: 'gen_ai.usage.input_tokens',
  UsageOutputTokens: 'gen_ai.usage.output_tokens',
  UsageCacheReadInputTokens: 'gen_ai.usage.cache_read.input_tokens',
  UsageCacheCreationInputTokens: 'gen_ai.usage.cache_creation.input_tokens',
  ToolName: 'gen_ai.tool.name',
  ToolCallId: 'gen_ai.tool.call.id',
  ToolDescription: 'gen_ai.tool.description',
  ToolType: 'gen_ai.tool.type',
  // Content: opt-in only (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT), as JSON strings.
  SystemInstructions: 'gen_ai.system_instructions',
  InputMessages: 'gen_ai.input.messages',
  OutputMessages: 'gen_ai.output.messages',
  ToolCallArguments: 'gen_ai.tool.call.arguments',
  ToolCallResult: 'gen_ai.tool.call.result',
} as const;

export const GenAiOperation = {
  Chat: 'chat',
  InvokeAgent: 'invoke_agent',
  ExecuteTool: 'execute_tool',
} as const;
export type GenAiOperation = (typeof GenAiOperation)[keyof typeof GenAiOperation];

export const MessagingAttr = {
  System: 'messaging.system',
  OperationType: 'messaging.operation.type',
  OperationName: 'messaging.operation.name',
  DestinationName: 'messaging.destination.name',
  MessageId: 'messaging.message.id',
} as const;

/** This runtime's own attributes, under its own prefix as the specification asks of names outside the conventions. */
export const RuntimeAttr = {
  /** How a turn (an `invoke_agent` span) ended: a `TurnOutcome`, `awaiting_approval`, or `stopped`. */
  TurnOutcome: 'ai_runtime.turn.outcome',
  /** Tries of a summary job so far, this one included. */
  JobAttempt: 'ai_runtime.job.attempt',
} as const;
