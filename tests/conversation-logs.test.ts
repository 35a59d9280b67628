import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { FakeOllama } from './support/fake-ollama.js';
import { captureLogs, type LogLine } from './support/log-capture.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, TestRuntime, type TestRuntimeOptions } from './support/runtime-harness.js';
import { summaryAnswer } from './support/triage-answers.js';

// `[log] level` (LOG_LEVEL=debug → log.level) is covered by config.test.ts; these tests give the runtime their own logger.

const DEBUG = 20;
const INFO = 30;
const WARN = 40;
const ERROR = 50;

const named = (lines: readonly LogLine[], msg: string) => lines.filter((l) => l.msg === msg);

describe('conversation logs', () => {
  let rt: TestRuntime;
  let logs: ReturnType<typeof captureLogs>;
  const start = async (options: TestRuntimeOptions = {}) => {
    logs = captureLogs();
    rt = await TestRuntime.start({ ...options, logger: logs.logger });
    return rt;
  };
  afterEach(() => rt?.close());

  it('a tool-using turn logs its start, LLM steps, the tool call and its end, each line with conversationId and user', async () => {
    await start();
    const user = 'logged@example.com';
    const message = 'Quel temps fait-il à Zanzibar ce matin ?';
    rt.ollama.enqueue({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Zanzibar' } }] }, { tokens: ['Il fait', ' beau à Zanzibar'] });
    const client = await rt.client(user);
    const turn = await client.chat(message);
    const conversationId = turn.find((m) => m.type === 'history')!.conversation_id;
    await expect.poll(() => named(logs.lines, 'turn ended')).toHaveLength(1);

    const mine = logs.lines.filter((l) => l.conversationId === conversationId);
    expect(mine.every((l) => l.user === user)).toBe(true);
    const sequence = mine.map((l) => l.msg);
    expect(sequence).toEqual([
      'turn started',
      'llm step started',
      'llm step ended',
      'tool call started',
      'tool call finished',
      'llm step started',
      'llm step ended',
      'turn ended',
    ]);

    const [started] = named(mine, 'turn started');
    expect(started).toMatchObject({ level: INFO, messageChars: message.length });
    const [firstStep, secondStep] = named(mine, 'llm step ended');
    expect(firstStep).toMatchObject({ level: INFO, step: 1, outcome: 'done', provider: 'ollama:llama3.1:8b', toolCalls: 1, durationMs: expect.any(Number) });
    expect(secondStep).toMatchObject({ step: 2, outcome: 'done', provider: 'ollama:llama3.1:8b', toolCalls: 0, answerChars: 'Il fait beau à Zanzibar'.length, firstTokenMs: expect.any(Number) });
    const [toolStarted] = named(mine, 'tool call started');
    expect(toolStarted).toMatchObject({ level: DEBUG, tool: 'get_weather', callId: expect.stringMatching(/^call_/) });
    const [toolFinished] = named(mine, 'tool call finished');
    expect(toolFinished).toMatchObject({ level: INFO, tool: 'get_weather', callId: toolStarted!.callId, durationMs: expect.any(Number), isError: false });
    const [ended] = named(mine, 'turn ended');
    expect(ended).toMatchObject({ level: INFO, outcome: 'complete', toolCalls: 1, llmSteps: 2, durationMs: expect.any(Number) });
    expect(ended!.durationMs as number).toBeGreaterThanOrEqual(toolFinished!.durationMs as number);

    // Mail stays out of logs: not the user's words, the tool's arguments or result, nor the answer.
    const everything = logs.text();
    for (const secret of [message, 'Zanzibar', 'Sunny', 'Il fait']) expect(everything).not.toContain(secret);
  });

  it('logs an approval asked and answered, with the decision but never the arguments', async () => {
    await start();
    rt.ollama.enqueue({ toolCalls: [{ name: 'send_message', arguments: { to: 'boss@example.com', text: 'Je démissionne' } }] }, { tokens: ['Envoyé'] });
    const client = await rt.client('approver@example.com');
    client.send({ type: 'chat', message: 'Écris au patron' });
    const request = await client.next('approval_required');
    client.send({ type: 'approve', call_id: request.call_id, arguments: { to: 'boss@example.com', text: 'Je reste finalement' } });
    await client.until('done');
    await expect.poll(() => named(logs.lines, 'turn ended')).toHaveLength(1);

    expect(named(logs.lines, 'approval requested')).toEqual([expect.objectContaining({ level: INFO, callId: request.call_id, tool: 'send_message', user: 'approver@example.com' })]);
    expect(named(logs.lines, 'approval answered')).toEqual([expect.objectContaining({ callId: request.call_id, tool: 'send_message', decision: 'approved', edited: true })]);
    expect(named(logs.lines, 'tool call finished')).toEqual([expect.objectContaining({ tool: 'send_message', isError: false })]);
    for (const secret of ['boss@example.com', 'Je démissionne', 'Je reste', 'Écris au patron']) expect(logs.text()).not.toContain(secret);
  });

  it('logs a failed tool call as an error line with its code only (the message quotes the tool\'s result)', async () => {
    await start();
    rt.ollama.enqueue({ toolCalls: [{ name: 'fail', arguments: {} }] }, { tokens: ['Désolé'] });
    const client = await rt.client('failing@example.com');
    await client.chat('Essaie');
    await expect.poll(() => named(logs.lines, 'turn ended')).toHaveLength(1);

    expect(named(logs.lines, 'tool call finished')).toEqual([expect.objectContaining({ tool: 'fail', isError: true })]);
    const [error] = named(logs.lines, 'conversation error');
    expect(error).toMatchObject({ level: WARN, code: 'tool_error', user: 'failing@example.com' });
    expect(error).not.toHaveProperty('err');
    expect(logs.text()).not.toContain('fail tool always fails');
  });

  it('names the provider that answered: a fallback, when the primary is down', async () => {
    const fallback = await FakeOllama.start({ models: ['qwen2.5:7b'] });
    try {
      await start({ mcp: false, config: { llm: { fallbacks: [{ provider: 'ollama', base_url: fallback.url, model: 'qwen2.5:7b' }] } } });
      await rt.ollama.close();
      const client = await rt.client('fallen@example.com');
      await client.chat('Bonjour');
      await expect.poll(() => named(logs.lines, 'turn ended')).toHaveLength(1);
      expect(named(logs.lines, 'llm step ended')).toEqual([expect.objectContaining({ outcome: 'done', provider: 'ollama:qwen2.5:7b' })]);
    } finally {
      await fallback.close();
    }
  });

  it('a cancelled turn logs the cut LLM step and its outcome', async () => {
    await start();
    rt.ollama.enqueue({ tokens: ['Une', ' longue', ' histoire'], hang: true });
    const client = await rt.client('canceller@example.com');
    client.send({ type: 'chat', message: 'Raconte' });
    await client.next('state', (m) => m.state === 'streaming');
    client.send({ type: 'cancel' });
    await client.until('done');
    await expect.poll(() => named(logs.lines, 'turn ended')).toHaveLength(1);
    expect(named(logs.lines, 'llm step ended')).toEqual([expect.objectContaining({ outcome: 'cancelled', answerChars: expect.any(Number) })]);
    expect(named(logs.lines, 'turn ended')[0]).toMatchObject({ outcome: 'cancelled', toolCalls: 0, llmSteps: 1 });
  });
});

describe('summary job logs (BullMQ on a private Redis)', () => {
  let redis: TestRedis;
  let rt: TestRuntime | undefined;
  let logs: ReturnType<typeof captureLogs>;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis.close());
  afterEach(async () => {
    await rt?.close();
    rt = undefined;
  });

  async function start(options: TestRuntimeOptions = {}): Promise<TestRuntime> {
    logs = captureLogs();
    rt = await TestRuntime.start({ mcp: false, redisUrl: redis.url, ...options, logger: logs.logger });
    await rt.runtime.notificationsReady;
    return rt;
  }

  async function announce(runtime: TestRuntime, email: Record<string, string>): Promise<string> {
    const body = JSON.stringify(email);
    const response = await fetch(`${runtime.httpUrl}/api/webhooks/email`, { method: 'POST', headers: signWebhook(TEST_WEBHOOK_SECRET, body), body });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  }

  const email = (subject: string) => ({
    user_email: 'alice@example.com',
    email_id: `${randomUUID()}.eml`,
    from: 'boss@example.com',
    subject,
    body: 'The secret merger closes on Friday at 4pm.',
  });
  /** The lines about one job: whatever their message, they name it by id. */
  const jobLines = (jobId: string) => logs.lines.filter((l) => l.jobId === jobId);

  it('a job is logged when queued, started and summarized, each line with jobId, emailId and user', async () => {
    const runtime = await start();
    runtime.ollama.enqueue(summaryAnswer('Le patron annonce une fusion vendredi.'));
    const mail = email('Confidential merger');
    const jobId = await announce(runtime, mail);
    await expect.poll(() => named(jobLines(jobId), 'email summarized')).toHaveLength(1);

    const lines = jobLines(jobId);
    expect(lines.map((l) => l.msg)).toEqual(['summary job queued', 'summary job started', 'email summarized']);
    for (const line of lines) expect(line).toMatchObject({ level: INFO, jobId, emailId: mail.email_id, user: mail.user_email });
    expect(named(lines, 'summary job started')[0]).toMatchObject({ attempt: 1 });
    expect(named(lines, 'email summarized')[0]).toMatchObject({ created: true, durationMs: expect.any(Number) });
    // Neither the mail nor its summary is logged.
    for (const line of lines) expect(JSON.stringify(line)).not.toMatch(/Confidential merger|fusion/);
    expect(logs.text()).not.toContain(mail.body);
  });

  it('a job that keeps failing logs a warning per retry, then an error, each with jobId and emailId', async () => {
    const runtime = await start({ config: { summarization: { attempts: 2 } } });
    runtime.ollama.setResponder(() => ({ httpError: { status: 500, message: 'model crashed' } }));
    const mail = email('Will fail');
    const jobId = await announce(runtime, mail);
    await expect.poll(() => jobLines(jobId).filter((l) => l.level === ERROR), { timeout: 5_000 }).toHaveLength(1);

    const failures = jobLines(jobId).filter((l) => l.level >= WARN);
    expect(failures).toEqual([
      expect.objectContaining({ level: WARN, attempt: 1, attempts: 2, err: expect.stringContaining('model crashed') }),
      expect.objectContaining({ level: ERROR, attempt: 2, attempts: 2, err: expect.stringContaining('model crashed') }),
    ]);
    for (const line of failures) expect(line).toMatchObject({ jobId, emailId: mail.email_id, user: mail.user_email });
    expect(named(jobLines(jobId), 'summary job started').map((l) => l.attempt)).toEqual([1, 2]);
  });
});
