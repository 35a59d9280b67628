import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { signWebhook } from '../src/mail/webhook-signature.js';
import type { ServerMessage } from '../src/protocol/protocol.js';
import { TRACING_OFF, setupTracing, type Tracing } from '../src/tracing/setup-tracing.js';
import { readTracingEnv } from '../src/tracing/tracing-env.js';
import { SpanKindCode, StatusCode, type DecodedSpan } from './support/otlp-decode.js';
import { OtlpReceiver, spanTree } from './support/otlp-receiver.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, TestRuntime, type TestRuntimeOptions } from './support/runtime-harness.js';
import { summaryAnswer } from './support/triage-answers.js';

const MODEL = 'llama3.1:8b';
const CONTENT_KEYS = ['gen_ai.input.messages', 'gen_ai.output.messages', 'gen_ai.system_instructions', 'gen_ai.tool.call.arguments', 'gen_ai.tool.call.result'];

/** A tracer from the API's global provider records nothing: no provider is registered. */
const globalProviderIsNoop = () => !trace.getTracer('probe').startSpan('probe').isRecording();

const byStart = (a: DecodedSpan, b: DecodedSpan) => (a.startNanos < b.startNanos ? -1 : a.startNanos > b.startNanos ? 1 : 0);
const childrenOf = (spans: readonly DecodedSpan[], parent: DecodedSpan) => spans.filter((s) => s.parentSpanId === parent.spanId).sort(byStart);
const only = <T extends ServerMessage['type']>(messages: readonly ServerMessage[], type: T) => messages.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type);

describe('traces (OpenTelemetry GenAI conventions, OTLP/HTTP)', () => {
  let receiver: OtlpReceiver | undefined;
  let tracing: Tracing = TRACING_OFF;
  let rt: TestRuntime | undefined;

  afterEach(async () => {
    await rt?.close();
    rt = undefined;
    // Closing the runtime shut its tracing down already; a test that failed before may have left it running.
    await tracing.shutdown();
    tracing = TRACING_OFF;
    await receiver?.close();
    receiver = undefined;
    expect(globalProviderIsNoop()).toBe(true);
  });

  async function traced(env: Record<string, string>, options: TestRuntimeOptions = {}): Promise<{ receiver: OtlpReceiver; rt: TestRuntime }> {
    receiver = await OtlpReceiver.start();
    tracing = setupTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, ...env });
    rt = await TestRuntime.start({ ...options, tracing });
    return { receiver, rt };
  }

  /** One turn that calls get_weather, then answers; the runtime is closed after it, which exports every span. */
  async function weatherTurn(started: { receiver: OtlpReceiver; rt: TestRuntime }) {
    started.rt.ollama.enqueue({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] }, { tokens: ['Il', ' fait', ' beau'] });
    const client = await started.rt.client('tom@example.com');
    const turn = await client.chat('Quel temps à Paris ?');
    const conversationId = only(turn, 'tool_call')[0]!.conversation_id;
    const callId = only(turn, 'tool_call')[0]!.call_id;
    const mcpCalls = [...started.rt.mcp!.calls];
    client.close();
    await started.rt.close();
    rt = undefined;
    return { conversationId, callId, mcpCalls, spans: started.receiver.spans };
  }

  it('a chat turn with a tool call is one trace: invoke_agent → chat → execute_tool → chat, over http/protobuf', async () => {
    const started = await traced({ OTEL_SERVICE_NAME: 'ai-runtime-test' });
    const { conversationId, callId, mcpCalls, spans } = await weatherTurn(started);

    expect(started.receiver.contentTypes.length).toBeGreaterThan(0);
    expect(new Set(started.receiver.contentTypes)).toEqual(new Set(['application/x-protobuf']));
    const agent = spans.find((s) => s.attributes['gen_ai.operation.name'] === 'invoke_agent')!;
    expect(spanTree(spans, agent.traceId)).toEqual([
      'invoke_agent ai-runtime',
      `invoke_agent ai-runtime > chat ${MODEL}`,
      `invoke_agent ai-runtime > chat ${MODEL}`,
      'invoke_agent ai-runtime > execute_tool get_weather',
    ]);
    // Nothing else was traced: the turn is the whole export.
    expect(spans).toHaveLength(4);

    expect(agent.parentSpanId).toBeUndefined();
    expect(agent.kind).toBe(SpanKindCode.Internal);
    expect(agent.resource['service.name']).toBe('ai-runtime-test');
    expect(agent.scope).toBe('ai-runtime');
    expect(agent.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'ai-runtime',
      'gen_ai.conversation.id': conversationId,
      'gen_ai.provider.name': 'ollama',
      'gen_ai.request.model': MODEL,
      'ai_runtime.turn.outcome': 'complete',
    });
    expect(agent.status.code).toBe(StatusCode.Unset);

    const [firstChat, tool, secondChat] = childrenOf(spans, agent);
    expect([firstChat!.name, tool!.name, secondChat!.name]).toEqual([`chat ${MODEL}`, 'execute_tool get_weather', `chat ${MODEL}`]);
    for (const chat of [firstChat!, secondChat!]) {
      expect(chat.kind).toBe(SpanKindCode.Client);
      expect(chat.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'ollama',
        'gen_ai.conversation.id': conversationId,
        'gen_ai.request.model': MODEL,
        'gen_ai.response.model': MODEL,
        'gen_ai.request.stream': true,
        'gen_ai.response.finish_reasons': ['stop'],
        'server.address': '127.0.0.1',
        'server.port': started.rt.ollama.port,
      });
      expect(chat.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
      expect(chat.attributes['gen_ai.response.time_to_first_chunk']).toBeGreaterThan(0);
      expect(chat.status.code).toBe(StatusCode.Unset);
    }
    expect(firstChat!.attributes['gen_ai.usage.output_tokens']).toBe(1);
    expect(secondChat!.attributes['gen_ai.usage.output_tokens']).toBe(3);

    expect(tool!.kind).toBe(SpanKindCode.Internal);
    expect(tool!.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'get_weather',
      'gen_ai.tool.call.id': callId,
      'gen_ai.conversation.id': conversationId,
      'gen_ai.tool.description': 'Current weather for a city',
    });
    // The MCP server got the execute_tool span as its parent, in the request's params._meta.
    expect(mcpCalls).toHaveLength(1);
    expect(mcpCalls[0]!.meta).toEqual({ traceparent: `00-${agent.traceId}-${tool!.spanId}-01` });

    // Content is opt-in: none of it by default.
    for (const span of spans) for (const key of CONTENT_KEYS) expect(span.attributes).not.toHaveProperty(key);
  });

  it('with content capture opted in, prompts, answers, tool arguments and results are on the spans (over http/json)', async () => {
    const started = await traced({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' });
    const { spans } = await weatherTurn(started);

    expect(new Set(started.receiver.contentTypes)).toEqual(new Set(['application/json']));
    const agent = spans.find((s) => s.attributes['gen_ai.operation.name'] === 'invoke_agent')!;
    const [firstChat, tool, secondChat] = childrenOf(spans, agent);
    expect(JSON.parse(String(firstChat!.attributes['gen_ai.input.messages']))).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'Quel temps à Paris ?' }] }]);
    expect(JSON.parse(String(firstChat!.attributes['gen_ai.system_instructions']))).toEqual([{ type: 'text', content: expect.stringContaining('tom@example.com') }]);
    expect(JSON.parse(String(firstChat!.attributes['gen_ai.output.messages']))).toEqual([
      { role: 'assistant', parts: [{ type: 'tool_call', name: 'get_weather', arguments: { city: 'Paris' } }], finish_reason: 'stop' },
    ]);
    expect(JSON.parse(String(tool!.attributes['gen_ai.tool.call.arguments']))).toEqual({ city: 'Paris' });
    expect(JSON.parse(String(tool!.attributes['gen_ai.tool.call.result']))).toEqual({ city: 'Paris', condition: 'Sunny', temperatureC: 21 });
    const secondInput = JSON.parse(String(secondChat!.attributes['gen_ai.input.messages'])) as Array<{ role: string; parts: Array<Record<string, unknown>> }>;
    expect(secondInput.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(secondInput[2]!.parts[0]).toMatchObject({ type: 'tool_call_response', response: { city: 'Paris', condition: 'Sunny', temperatureC: 21 } });
    expect(JSON.parse(String(secondChat!.attributes['gen_ai.output.messages']))).toEqual([{ role: 'assistant', parts: [{ type: 'text', content: 'Il fait beau' }], finish_reason: 'stop' }]);
  });

  it('a turn that waits for an approval ends its trace there; what runs after the decision is the next trace', async () => {
    const started = await traced({});
    started.rt.ollama.enqueue({ toolCalls: [{ name: 'delete_note', arguments: { id: 'a' } }] }, { tokens: ['Supprimée'] });
    const client = await started.rt.client('kay@example.com');
    client.send({ type: 'chat', message: 'Supprime la note a' });
    const request = await client.next('approval_required');
    client.send({ type: 'approve', call_id: request.call_id });
    await client.until('done');
    client.close();
    await started.rt.close();
    rt = undefined;

    const spans = started.receiver.spans;
    const turns = spans.filter((s) => s.attributes['gen_ai.operation.name'] === 'invoke_agent').sort(byStart);
    expect(turns.map((t) => t.attributes['ai_runtime.turn.outcome'])).toEqual(['awaiting_approval', 'complete']);
    expect(turns[0]!.traceId).not.toBe(turns[1]!.traceId);
    expect(turns.every((t) => t.status.code === StatusCode.Unset)).toBe(true);
    expect(childrenOf(spans, turns[0]!).map((s) => s.name)).toEqual([`chat ${MODEL}`]);
    expect(childrenOf(spans, turns[1]!).map((s) => s.name)).toEqual(['execute_tool delete_note', `chat ${MODEL}`]);
    expect(childrenOf(spans, turns[1]!)[0]!.attributes['gen_ai.tool.call.id']).toBe(request.call_id);
  });

  it('a failed LLM call is a failed chat span, and its turn a failed invoke_agent span', async () => {
    const started = await traced({});
    started.rt.ollama.enqueue({ httpError: { status: 500, message: 'model crashed' } });
    const client = await started.rt.client('err@example.com');
    await client.chat('Bonjour');
    client.close();
    await started.rt.close();
    rt = undefined;

    const chat = started.receiver.spans.find((s) => s.name === `chat ${MODEL}`)!;
    expect(chat.status.code).toBe(StatusCode.Error);
    expect(chat.attributes['error.type']).toBe('500');
    const agent = started.receiver.spans.find((s) => s.spanId === chat.parentSpanId)!;
    expect(agent.attributes).toMatchObject({ 'ai_runtime.turn.outcome': 'error', 'error.type': 'error' });
    expect(agent.status.code).toBe(StatusCode.Error);
  });

  it('a cancelled answer ends its chat span as cancelled', async () => {
    const started = await traced({});
    started.rt.ollama.enqueue({ tokens: ['Un', ' long', ' texte'], delayMs: 300 });
    const client = await started.rt.client('stop@example.com');
    client.send({ type: 'chat', message: 'Raconte' });
    await client.next('chunk');
    client.send({ type: 'cancel' });
    await client.until('done');
    client.close();
    await started.rt.close();
    rt = undefined;

    const chat = started.receiver.spans.find((s) => s.name === `chat ${MODEL}`)!;
    expect(chat.status.code).toBe(StatusCode.Error);
    expect(chat.attributes['error.type']).toBe('cancelled');
    expect(started.receiver.spans.find((s) => s.spanId === chat.parentSpanId)!.attributes['ai_runtime.turn.outcome']).toBe('cancelled');
  });

  it('with no OTEL_* endpoint, or OTEL_SDK_DISABLED=true, nothing is registered, exported or sent in _meta', async () => {
    expect(setupTracing({})).toBe(TRACING_OFF);
    expect(setupTracing({ OTEL_SERVICE_NAME: 'named-but-nowhere', OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' })).toBe(TRACING_OFF);
    const started = await traced({ OTEL_SDK_DISABLED: 'true' });
    expect(tracing).toBe(TRACING_OFF);
    expect(globalProviderIsNoop()).toBe(true);
    const { mcpCalls, spans } = await weatherTurn(started);
    expect(spans).toEqual([]);
    expect(started.receiver.contentTypes).toEqual([]);
    expect(mcpCalls[0]!.meta).toBeUndefined();
  });

  it('an enabled provider is the global one until shut down', async () => {
    receiver = await OtlpReceiver.start();
    tracing = setupTracing({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.endpoint}/v1/traces` });
    expect(tracing.summary).toBe(`traces: to ${receiver.endpoint}/v1/traces (http/protobuf) as service ai-runtime; message content not captured`);
    expect(globalProviderIsNoop()).toBe(false);
    await tracing.shutdown();
    expect(globalProviderIsNoop()).toBe(true);
  });
});

describe('summary traces: webhook → job → chat → notification (private Redis)', () => {
  let redis: TestRedis;
  let receiver: OtlpReceiver | undefined;
  let rt: TestRuntime | undefined;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis.close());
  afterEach(async () => {
    await rt?.close();
    rt = undefined;
    await receiver?.close();
    receiver = undefined;
    expect(globalProviderIsNoop()).toBe(true);
  });

  it('one trace from the webhook request to the notification, through the job', async () => {
    receiver = await OtlpReceiver.start();
    const tracing = setupTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
    rt = await TestRuntime.start({ mcp: false, redisUrl: redis.url, tracing });
    await rt.runtime.notificationsReady;
    rt.ollama.enqueue(summaryAnswer('Une réunion demain à 15h.'));
    const alice = await rt.client('alice@example.com');
    const text = JSON.stringify({ user_email: 'alice@example.com', email_id: `${randomUUID()}.eml`, from: 'sender@example.com', subject: 'Réunion', body: 'Demain 15h ?' });
    const response = await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers: { 'content-type': 'application/json', ...signWebhook(TEST_WEBHOOK_SECRET, text) }, body: text });
    expect(response.status).toBe(202);
    const { id: jobId } = (await response.json()) as { id: string };
    await alice.next('email_notification');
    alice.close();
    const prefix = rt.config.redis.prefix;
    await rt.close();
    rt = undefined;

    const spans = receiver.spans;
    const webhook = spans.find((s) => s.name === 'POST /api/webhooks/email')!;
    expect(webhook.parentSpanId).toBeUndefined();
    expect(webhook.kind).toBe(SpanKindCode.Server);
    expect(webhook.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/api/webhooks/email', 'http.response.status_code': 202 });
    expect(spanTree(spans, webhook.traceId)).toEqual([
      'POST /api/webhooks/email',
      'POST /api/webhooks/email > send email-summaries',
      'POST /api/webhooks/email > send email-summaries > process email-summaries',
      `POST /api/webhooks/email > send email-summaries > process email-summaries > chat ${MODEL}`,
      `POST /api/webhooks/email > send email-summaries > process email-summaries > send ${prefix}:notifications`,
    ]);
    const byName = (name: string) => spans.find((s) => s.traceId === webhook.traceId && s.name === name)!;
    expect(byName('send email-summaries')).toMatchObject({ kind: SpanKindCode.Producer, attributes: { 'messaging.system': 'bullmq', 'messaging.destination.name': 'email-summaries', 'messaging.message.id': jobId } });
    expect(byName('process email-summaries')).toMatchObject({ kind: SpanKindCode.Consumer, attributes: { 'messaging.operation.type': 'process', 'messaging.message.id': jobId, 'ai_runtime.job.attempt': 1 } });
    expect(byName(`chat ${MODEL}`)).toMatchObject({
      kind: SpanKindCode.Client,
      attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'ollama', 'gen_ai.request.model': MODEL, 'gen_ai.output.type': 'json', 'gen_ai.response.finish_reasons': ['stop'] },
    });
    expect(byName(`chat ${MODEL}`).attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(byName(`send ${prefix}:notifications`)).toMatchObject({ kind: SpanKindCode.Producer, attributes: { 'messaging.system': 'redis' } });
    // The mail itself stays out of traces unless content capture is opted in.
    for (const span of spans) for (const key of CONTENT_KEYS) expect(span.attributes).not.toHaveProperty(key);
  });
});

describe('OTEL_* settings', () => {
  it('reads the endpoint, protocol, service name, headers and content opt-in', () => {
    expect(readTracingEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({
      url: 'http://collector:4318/v1/traces',
      protocol: 'http/protobuf',
      headers: {},
      serviceName: 'ai-runtime',
      captureContent: false,
    });
    expect(
      readTracingEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/otlp/',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example.com/ingest',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_HEADERS: 'api-key=s%3Dcret, team=mail',
        OTEL_SERVICE_NAME: 'mail-assistant',
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'TRUE',
      }),
    ).toEqual({ url: 'https://traces.example.com/ingest', protocol: 'http/json', headers: { 'api-key': 's=cret', team: 'mail' }, serviceName: 'mail-assistant', captureContent: true });
    expect(readTracingEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/otlp/' })!.url).toBe('http://collector:4318/otlp/v1/traces');
    // Empty is unset, as the specification reads it.
    expect(readTracingEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_SDK_DISABLED: '' })).toBeUndefined();
    expect(readTracingEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
  });

  it('a bad value stops start-up, naming the variable', () => {
    const bad = (env: Record<string, string>) => () => readTracingEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', ...env });
    expect(bad({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(ConfigError);
    expect(bad({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL: expected http\/protobuf or http\/json/);
    expect(bad({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(bad({ OTEL_SDK_DISABLED: 'yes' })).toThrow(/OTEL_SDK_DISABLED: expected true or false/);
    expect(bad({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: '1' })).toThrow(/OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT/);
    expect(bad({ OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-sign' })).toThrow(/OTEL_EXPORTER_OTLP_HEADERS/);
  });
});
