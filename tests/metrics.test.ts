import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../src/mail/webhook-signature.js';
import { summaryAnswer } from './support/triage-answers.js';
import { TestRedis } from './support/redis-launcher.js';
import { TEST_WEBHOOK_SECRET, runtimesClosedAfterEach, type TestRuntime } from './support/runtime-harness.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  /** Metric family name → its `# TYPE`. */
  types: Map<string, string>;
  samples: Sample[];
}

/** `generate-summary` takes JSON only (a form post from another site would need no preflight). */
const JSON_BODY = { 'content-type': 'application/json' };
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\.)*)"';
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL},?)*)\\})? (\\S+)(?: -?\\d+)?$`);
const COMMENT_LINE = new RegExp(`^# (HELP|TYPE) (${NAME})(?: (.*))?$`);
const METRIC_TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new Error(`not a sample value: ${text}`);
  return value;
}

/** The family a sample belongs to: histogram and summary samples carry a suffix. */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return types.has(base) ? base : undefined;
}

/**
 * A strict reader of the Prometheus text format (0.0.4): every line is a HELP, a TYPE or a sample of a family typed
 * before it, and no family is declared twice.
 */
function parsePrometheusText(text: string): Exposition {
  const types = new Map<string, string>();
  const helped = new Set<string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = COMMENT_LINE.exec(line);
    if (comment) {
      const [, kind, name, rest] = comment as unknown as [string, 'HELP' | 'TYPE', string, string | undefined];
      if (kind === 'TYPE') {
        if (types.has(name)) throw new Error(`TYPE declared twice for ${name}`);
        if (!METRIC_TYPES.has(rest ?? '')) throw new Error(`bad TYPE line: ${line}`);
        types.set(name, rest!);
      } else {
        if (helped.has(name)) throw new Error(`HELP declared twice for ${name}`);
        helped.add(name);
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = SAMPLE_LINE.exec(line);
    if (!sample) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const [, name, labelText, , , valueText] = sample as unknown as [string, string, string | undefined, unknown, unknown, string];
    if (!familyOf(name, types)) throw new Error(`sample of an undeclared family: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (labelText ?? '').matchAll(new RegExp(LABEL, 'g'))) labels[key!] = value!;
    samples.push({ name, labels, value: parseValue(valueText) });
  }
  return { types, samples };
}

/** The value of the one sample with this name and exactly these labels; undefined when there is none. */
function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  const matches = exposition.samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted);
  if (matches.length > 1) throw new Error(`${matches.length} samples for ${name} ${wanted}`);
  return matches[0]?.value;
}

async function scrape(rt: TestRuntime): Promise<Exposition> {
  const response = await fetch(`${rt.httpUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await response.text());
}

const metric = async (rt: TestRuntime, name: string, labels: Record<string, string> = {}) => valueOf(await scrape(rt), name, labels);

describe('GET /metrics', () => {
  const { start } = runtimesClosedAfterEach();

  it('with server.metrics_token, answers 401 without the bearer token and the metrics with it', async () => {
    const rt = await start({ config: { server: { metrics_token: 'scrape-secret' } } });
    const bare = await fetch(`${rt.httpUrl}/metrics`);
    expect(bare.status).toBe(401);
    expect(await bare.text()).not.toContain('ai_runtime_');
    const wrong = await fetch(`${rt.httpUrl}/metrics`, { headers: { authorization: 'Bearer scrape-secreT' } });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${rt.httpUrl}/metrics`, { headers: { authorization: 'Bearer scrape-secret' } });
    expect(right.status).toBe(200);
    expect(await right.text()).toContain('ai_runtime_connections');
  });

  it('answers Prometheus text with the runtime metrics, the default process metrics and the rate-limit counter', async () => {
    const rt = await start();
    const { types } = await scrape(rt);
    expect(Object.fromEntries([...types].filter(([name]) => name.startsWith('ai_runtime_')))).toEqual({
      ai_runtime_connections: 'gauge',
      ai_runtime_actors: 'gauge',
      ai_runtime_tokens_relayed_total: 'counter',
      ai_runtime_llm_time_to_first_token_seconds: 'histogram',
      ai_runtime_llm_answers_total: 'counter',
      ai_runtime_llm_tokens_total: 'counter',
      ai_runtime_tool_call_duration_seconds: 'histogram',
      ai_runtime_tool_call_errors_total: 'counter',
      ai_runtime_summary_job_duration_seconds: 'histogram',
      ai_runtime_summary_job_failures_total: 'counter',
      ai_runtime_triaged_emails_total: 'counter',
      ai_runtime_rate_limit_hits_total: 'counter',
    });
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(types.get('nodejs_heap_size_used_bytes')).toBe('gauge');
  });

  it('counts every relayed token and observes the time to first token once per answer, per runtime', async () => {
    const rt = await start();
    const other = await start();
    const tokens = ['Bon', 'jour', ' à', ' vous', ' !'];
    rt.ollama.enqueue({ tokens, headersDelayMs: 200 });
    const client = await rt.client('tokens@example.com');
    await client.chat('Salut');

    const after = await scrape(rt);
    expect(valueOf(after, 'ai_runtime_tokens_relayed_total')).toBe(tokens.length);
    expect(valueOf(after, 'ai_runtime_llm_time_to_first_token_seconds_count')).toBe(1);
    // Measured from the request: Ollama took 200 ms to answer at all.
    expect(valueOf(after, 'ai_runtime_llm_time_to_first_token_seconds_sum')).toBeGreaterThanOrEqual(0.2);
    expect(valueOf(after, 'ai_runtime_llm_time_to_first_token_seconds_bucket', { le: '0.1' })).toBe(0);

    // A second answer adds its own tokens only.
    rt.ollama.enqueue({ tokens: ['Encore'] });
    await client.chat('Encore ?');
    expect(await metric(rt, 'ai_runtime_tokens_relayed_total')).toBe(tokens.length + 1);
    expect(await metric(rt, 'ai_runtime_llm_time_to_first_token_seconds_count')).toBe(2);

    // Each runtime has its own registry: the other one saw nothing.
    expect(await metric(other, 'ai_runtime_tokens_relayed_total')).toBe(0);
    expect(await metric(other, 'ai_runtime_llm_time_to_first_token_seconds_count')).toBe(0);
  });

  it('times tool calls by tool and counts their errors, with made-up tool names under "unknown"', async () => {
    const rt = await start();
    rt.ollama.enqueue(
      { toolCalls: [{ name: 'add', arguments: { a: 1, b: 2 } }] },
      { toolCalls: [{ name: 'fail', arguments: {} }] },
      { toolCalls: [{ name: 'no_such_tool_123', arguments: {} }] },
      { tokens: ['Fini'] },
    );
    const client = await rt.client('tools@example.com');
    client.send({ type: 'chat', message: 'Calcule' });
    // A tool no server offers asks first; approved, it fails as unavailable.
    const request = await client.next('approval_required');
    expect(request.tool).toBe('no_such_tool_123');
    client.send({ type: 'approve', call_id: request.call_id });
    await client.until('done');

    const exposition = await scrape(rt);
    expect(valueOf(exposition, 'ai_runtime_tool_call_duration_seconds_count', { tool: 'add' })).toBe(1);
    expect(valueOf(exposition, 'ai_runtime_tool_call_duration_seconds_bucket', { tool: 'add', le: '+Inf' })).toBe(1);
    expect(valueOf(exposition, 'ai_runtime_tool_call_errors_total', { tool: 'add' })).toBeUndefined();
    expect(valueOf(exposition, 'ai_runtime_tool_call_duration_seconds_count', { tool: 'fail' })).toBe(1);
    expect(valueOf(exposition, 'ai_runtime_tool_call_errors_total', { tool: 'fail' })).toBe(1);
    expect(valueOf(exposition, 'ai_runtime_tool_call_errors_total', { tool: 'unknown' })).toBe(1);
    expect(exposition.samples.filter((s) => s.labels['tool'] === 'no_such_tool_123')).toEqual([]);
  });

  it('follows open chat sockets, signed in or not', async () => {
    const rt = await start();
    expect(await metric(rt, 'ai_runtime_connections')).toBe(0);
    const first = await rt.client('first@example.com');
    const second = await rt.client();
    await expect.poll(() => metric(rt, 'ai_runtime_connections')).toBe(2);
    await first.close();
    await expect.poll(() => metric(rt, 'ai_runtime_connections')).toBe(1);
    await second.close();
    await expect.poll(() => metric(rt, 'ai_runtime_connections')).toBe(0);
  });

  it('counts live actors by state at scrape time', async () => {
    const rt = await start();
    const before = await scrape(rt);
    for (const state of ['idle', 'thinking', 'streaming', 'calling_tool', 'awaiting_approval', 'done']) {
      expect(valueOf(before, 'ai_runtime_actors', { state })).toBe(0);
    }
    rt.ollama.enqueue({ tokens: ['Je', ' réfléchis'], hang: true });
    const client = await rt.client('actors@example.com');
    client.send({ type: 'chat', message: 'Longue réponse' });
    await client.next('state', (m) => m.state === 'streaming');
    const streaming = await scrape(rt);
    expect(valueOf(streaming, 'ai_runtime_actors', { state: 'streaming' })).toBe(1);
    expect(valueOf(streaming, 'ai_runtime_actors', { state: 'idle' })).toBe(0);

    client.send({ type: 'cancel' });
    await client.next('done');
    const idle = await scrape(rt);
    expect(valueOf(idle, 'ai_runtime_actors', { state: 'idle' })).toBe(1);
    expect(valueOf(idle, 'ai_runtime_actors', { state: 'streaming' })).toBe(0);
  });

  it('has no queue gauge when summaries are off', async () => {
    const rt = await start();
    const { types, samples } = await scrape(rt);
    expect(types.has('ai_runtime_summary_queue_jobs')).toBe(false);
    expect(samples.filter((s) => s.name === 'ai_runtime_summary_queue_jobs')).toEqual([]);
  });
});

describe('GET /metrics with summaries (private Redis)', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis.close());
  const { start } = runtimesClosedAfterEach(() => ({ mcp: false, redisUrl: redis.url }));

  const email = (subject: string) => ({ user_email: 'alice@example.com', email_id: `${randomUUID()}.eml`, from: 'boss@example.com', subject, body: 'Now at 4pm' });

  it('reports the queue by state and times completed summary jobs', async () => {
    const rt = await start();
    const before = await scrape(rt);
    for (const state of ['waiting', 'active', 'delayed', 'completed', 'failed']) {
      expect(valueOf(before, 'ai_runtime_summary_queue_jobs', { state })).toBe(0);
    }
    expect(valueOf(before, 'ai_runtime_summary_job_duration_seconds_count', { outcome: 'completed' })).toBeUndefined();

    rt.ollama.enqueue(summaryAnswer('Réunion à 16h.', { category: 'work', priority: 'high' }));
    const response = await fetch(`${rt.httpUrl}/api/generate-summary`, { method: 'POST', headers: JSON_BODY, body: JSON.stringify(email('Budget')) });
    expect(response.status).toBe(200);

    await expect.poll(() => metric(rt, 'ai_runtime_summary_job_duration_seconds_count', { outcome: 'completed' })).toBe(1);
    const after = await scrape(rt);
    expect(valueOf(after, 'ai_runtime_summary_queue_jobs', { state: 'completed' })).toBe(1);
    expect(valueOf(after, 'ai_runtime_summary_queue_jobs', { state: 'waiting' })).toBe(0);
    expect(valueOf(after, 'ai_runtime_summary_job_failures_total')).toBe(0);
    expect(valueOf(after, 'ai_runtime_triaged_emails_total', { category: 'work', priority: 'high' })).toBe(1);
  });

  it('counts failed summary attempts and shows the job that used them up as failed', async () => {
    const rt = await start({ config: { summarization: { attempts: 2 } } });
    rt.ollama.setResponder(() => ({ httpError: { status: 500, message: 'model crashed' } }));
    const body = JSON.stringify(email('Will fail'));
    const headers = { 'content-type': 'application/json', ...signWebhook(TEST_WEBHOOK_SECRET, body) };
    expect((await fetch(`${rt.httpUrl}/api/webhooks/email`, { method: 'POST', headers, body })).status).toBe(202);

    await expect.poll(() => metric(rt, 'ai_runtime_summary_queue_jobs', { state: 'failed' }), { timeout: 5_000 }).toBe(1);
    const after = await scrape(rt);
    expect(valueOf(after, 'ai_runtime_summary_job_failures_total')).toBe(2);
    expect(valueOf(after, 'ai_runtime_summary_job_duration_seconds_count', { outcome: 'failed' })).toBe(2);
    expect(valueOf(after, 'ai_runtime_summary_job_duration_seconds_count', { outcome: 'completed' })).toBeUndefined();
  });
});
