import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import type { ConfigInput } from '../src/config/schema.js';
import { createLogger, type Logger } from '../src/logger.js';
import { startMetricsServer } from '../src/metrics/metrics-server.js';
import { SummaryQueue } from '../src/queue/summary-queue.js';
import { startWorkerProcess, type WorkerProcess } from '../src/queue/worker-process.js';
import { FakeOllama } from './support/fake-ollama.js';
import { captureLogs } from './support/log-capture.js';
import { rawRequest } from './support/raw-http.js';
import { TestRedis } from './support/redis-launcher.js';

const FAILING_SUBJECT = 'Will fail';
const SUMMARY = 'Réunion à 16h.';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Sample lines of the Prometheus text format; `# TYPE` lines give each family's type. */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels = Object.fromEntries([...(sample[2] ?? '').matchAll(/([a-zA-Z_]\w*)="([^"]*)"/g)].map(([, key, value]) => [key!, value!]));
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

/** The value of the one sample with this name and exactly these labels; undefined when there is none. */
function valueOf(exposition: { samples: Sample[] }, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  const matches = exposition.samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted);
  if (matches.length > 1) throw new Error(`${matches.length} samples for ${name} ${wanted}`);
  return matches[0]?.value;
}

async function scrape(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

const email = (subject: string) => ({ user_email: 'alice@example.com', email_id: `${randomUUID()}.eml`, from: 'boss@example.com', subject, body: 'Now at 4pm' });

describe('`npm run worker` metrics (private Redis)', () => {
  let redis: TestRedis;
  let ollama: FakeOllama;
  let dir: string;
  const silent = createLogger('silent');
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    redis = await TestRedis.start();
    ollama = await FakeOllama.start();
    // Summaries of the failing subject get Ollama's 500; the rest a summary.
    ollama.setResponder((request) =>
      request.body.messages?.some((m) => m.content?.includes(FAILING_SUBJECT)) ? { httpError: { status: 500, message: 'model crashed' } } : { tokens: [SUMMARY] },
    );
    dir = mkdtempSync(join(tmpdir(), 'ai-runtime-worker-metrics-'));
  });
  afterAll(async () => {
    await ollama.close();
    await redis.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A worker process on its own queue prefix, and a producer on that queue whose jobs get one attempt. */
  async function start(overrides: { summarization?: ConfigInput['summarization']; server?: ConfigInput['server'] } = {}, logger: Logger = silent) {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const config = parseConfig({
      llm: { base_url: ollama.url },
      mcp: { mail_server_url: '' },
      mail: { embedded: false },
      redis: { url: redis.url, prefix },
      server: overrides.server ?? {},
      summarization: { db_path: join(dir, `${prefix}.db`), worker_metrics_addr: '127.0.0.1:0', ...overrides.summarization },
      log: { level: 'silent' },
    });
    const worker = await startWorkerProcess({ config, logger });
    cleanups.push(() => worker.close());
    const queue = new SummaryQueue({ url: redis.url, prefix, attempts: 1, backoffMs: 100, logger: silent });
    cleanups.push(() => queue.close());
    return { worker, queue };
  }

  const portOf = (worker: WorkerProcess) => Number(new URL(worker.metricsUrl!).port);

  it('serves on a free port with port 0, reports it in metricsUrl and logs it', async () => {
    const logs = captureLogs('info');
    const { worker } = await start({}, logs.logger);
    expect(worker.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(portOf(worker)).toBeGreaterThan(0);
    expect(logs.messages().some((message) => message.includes(worker.metricsUrl!))).toBe(true);
    await scrape(worker.metricsUrl!);
  });

  it('times completed and failed jobs of its own worker, counts the failure and reports the queue by state', async () => {
    const { worker, queue } = await start();
    const before = await scrape(worker.metricsUrl!);
    for (const state of ['waiting', 'active', 'delayed', 'completed', 'failed']) expect(valueOf(before, 'ai_runtime_summary_queue_jobs', { state })).toBe(0);
    expect(valueOf(before, 'ai_runtime_summary_job_failures_total')).toBe(0);

    await queue.add(email('Budget'));
    await queue.add(email(FAILING_SUBJECT));

    const duration = (outcome: string) => async () => valueOf(await scrape(worker.metricsUrl!), 'ai_runtime_summary_job_duration_seconds_count', { outcome });
    await expect.poll(duration('completed'), { timeout: 10_000 }).toBe(1);
    await expect.poll(duration('failed'), { timeout: 10_000 }).toBe(1);
    const after = await scrape(worker.metricsUrl!);
    expect(valueOf(after, 'ai_runtime_summary_job_failures_total')).toBe(1);
    expect(valueOf(after, 'ai_runtime_summary_queue_jobs', { state: 'completed' })).toBe(1);
    expect(valueOf(after, 'ai_runtime_summary_queue_jobs', { state: 'failed' })).toBe(1);
    expect(valueOf(after, 'ai_runtime_summary_queue_jobs', { state: 'waiting' })).toBe(0);
  });

  it('has the summary metrics and Node\'s process metrics, none of a runtime\'s conversations', async () => {
    const { worker } = await start();
    const { types } = await scrape(worker.metricsUrl!);
    expect(Object.fromEntries([...types].filter(([name]) => name.startsWith('ai_runtime_')))).toEqual({
      ai_runtime_summary_job_duration_seconds: 'histogram',
      ai_runtime_summary_job_failures_total: 'counter',
      ai_runtime_triaged_emails_total: 'counter',
      ai_runtime_summary_queue_jobs: 'gauge',
    });
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
  });

  it('with server.metrics_token, answers 401 without the bearer and the metrics with it; /health stays open; anything else is 404', async () => {
    const { worker } = await start({ server: { metrics_token: 'scrape-secret' } });
    const url = worker.metricsUrl!;
    const bare = await fetch(url);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe('Bearer');
    expect(await bare.text()).not.toContain('ai_runtime_');
    expect((await fetch(url, { headers: { authorization: 'Bearer scrape-secreT' } })).status).toBe(401);
    expect(valueOf(await scrape(url, { authorization: 'Bearer scrape-secret' }), 'ai_runtime_summary_job_failures_total')).toBe(0);

    const health = await fetch(new URL('/health', url));
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(new URL('/nope', url))).status).toBe(404);
    expect((await fetch(url, { method: 'POST', headers: { authorization: 'Bearer scrape-secret' } })).status).toBe(404);
  });

  it('a raw request with a malformed target (GET //[) gets 400, and the metrics endpoint still answers', async () => {
    const { worker } = await start();
    // `new URL('//[', base)` throws: a request target no HTTP client sends, but one line of netcat does.
    for (const target of ['//[', 'http://[', '//%zz[']) {
      const answer = await rawRequest(portOf(worker), `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(answer.status, target).toBe(400);
      expect(answer.body, target).toContain('malformed request URL');
    }
    await scrape(worker.metricsUrl!);
  });

  it('with worker_metrics_addr = "", serves no metrics and still does its jobs', async () => {
    const { worker, queue } = await start({ summarization: { worker_metrics_addr: '' } });
    expect(worker.metricsUrl).toBeUndefined();
    await queue.add(email('Sans métriques'));
    await expect.poll(async () => (await queue.counts())['completed'], { timeout: 10_000 }).toBe(1);
  });

  it('close() frees the port, and is safe to call twice', async () => {
    const { worker } = await start();
    const port = portOf(worker);
    await worker.close();
    await worker.close();
    await expect(fetch(worker.metricsUrl!)).rejects.toThrow();
    // Listening on the same port again proves it is free.
    await closeServer(await listenOn(port));
  });

  it('a metrics port already taken stops start-up, naming the key', async () => {
    const taken = await listenOn(0);
    cleanups.push(() => closeServer(taken));
    const { port } = taken.address() as { port: number };
    await expect(start({ summarization: { worker_metrics_addr: `127.0.0.1:${port}` } })).rejects.toThrow(/worker_metrics_addr.*127\.0\.0\.1:\d+/);
  });
});

describe('a bug in the worker metrics server is a 500 and a log line, not a crash', () => {
  it('a scrape whose rendering throws gets 500, is logged, and /health still answers', async () => {
    const { logger, lines } = captureLogs('debug');
    const registry = new Registry();
    registry.metrics = () => {
      throw new Error('a bug');
    };
    const server = await startMetricsServer({ addr: '127.0.0.1:0', token: '', registry, logger });
    try {
      const answer = await fetch(server.url);
      expect(answer.status).toBe(500);
      expect(await answer.json()).toMatchObject({ status: 'error' });
      expect(lines.some((l) => l.msg === 'worker metrics request failed' && JSON.stringify(l).includes('a bug'))).toBe(true);
      expect((await fetch(new URL('/health', server.url))).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
