import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import type { Tracing } from '../../src/tracing/setup-tracing.js';
import { FakeOllama } from './fake-ollama.js';
import { McpTestHttpServer, type McpTestServerOptions } from './mcp-test-server.js';
import { TestClient } from './ws-client.js';

export interface TestRuntimeOptions {
  /** Section overrides merged over the test defaults. */
  config?: { [K in keyof ConfigInput]?: Partial<NonNullable<ConfigInput[K]>> };
  /** Start an MCP test server and configure it as `test` (default true). */
  mcp?: boolean | McpTestServerOptions;
  /** Reuse a temp dir (and so its database) from an earlier runtime. */
  dir?: string;
  ollama?: FakeOllama;
  /** A private Redis: turns the summaries pipeline on. */
  redisUrl?: string;
  /** Where the runtime logs (kept across `restart()`); by default a logger at `[log] level`, silent in tests. */
  logger?: Logger;
  /** Traces (`setupTracing(env)`); the runtime shuts it down when closed, so a `restart()` runs without. @default off */
  tracing?: Tracing;
}

/** The webhook secret test runtimes share with the tests that sign requests. */
export const TEST_WEBHOOK_SECRET = 'test-webhook-secret';

/** A runtime on real parts: SQLite in a temp dir, the fake Ollama over HTTP, a real MCP server, uWS on a free port. */
export class TestRuntime {
  private constructor(
    public runtime: Runtime,
    readonly config: Config,
    readonly ollama: FakeOllama,
    readonly mcp: McpTestHttpServer | undefined,
    readonly dir: string,
    private readonly ownsOllama: boolean,
    private readonly ownsDir: boolean,
    private readonly logger: Logger,
  ) {}

  static async start(options: TestRuntimeOptions = {}): Promise<TestRuntime> {
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'ai-runtime-test-'));
    const ollama = options.ollama ?? (await FakeOllama.start());
    const mcp = options.mcp === false ? undefined : await McpTestHttpServer.start(typeof options.mcp === 'object' ? options.mcp : {});
    const overrides = options.config ?? {};
    const config = parseConfig({
      ...overrides,
      // No retries unless a test asks: a scripted error answer is then the turn's answer, as the test wrote it.
      llm: { base_url: ollama.url, retries: 0, ...overrides.llm },
      mcp: { mail_server_url: '', servers: mcp ? [{ name: 'test', url: mcp.url }] : [], reconnect_initial_ms: 100, reconnect_max_ms: 500, ...overrides.mcp },
      // No grace at close: a test that ends mid-answer should not wait for it (the shutdown tests set their own).
      server: { listen_addr: '127.0.0.1:0', shutdown_grace_s: 0, ...overrides.server },
      summarization: { db_path: join(dir, 'runtime.db'), backoff_ms: 100, ...overrides.summarization },
      // Its own key prefix: a runtime's jobs and notifications never meet another test's on a shared Redis.
      redis: { url: options.redisUrl ?? '', prefix: `t${randomUUID().slice(0, 8)}`, ...overrides.redis },
      webhooks: { secret: TEST_WEBHOOK_SECRET, ...overrides.webhooks },
      mail: { embedded: false, ...overrides.mail },
      // Most tests sign in by email; the auth tests turn it off and use tokens.
      auth: { dev_mode: true, ...overrides.auth },
      log: { level: process.env.TEST_LOG_LEVEL ?? 'silent', ...overrides.log },
    });
    const logger = options.logger ?? createLogger(config.log.level, 'test-runtime');
    const runtime = await startRuntime({ config, logger, ...(options.tracing ? { tracing: options.tracing } : {}) });
    return new TestRuntime(runtime, config, ollama, mcp, dir, !options.ollama, !options.dir, logger);
  }

  get wsUrl(): string {
    return this.runtime.wsUrl;
  }

  get httpUrl(): string {
    return this.runtime.httpUrl;
  }

  /** Resolves once the MCP registry lists `count` tools (the bundled mail server's seven, by default): connecting takes a moment. */
  async toolsListed(count = 7, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.runtime.mcp.tools().length < count) {
      if (Date.now() > deadline) throw new Error(`the runtime lists ${this.runtime.mcp.tools().length} tools after ${timeoutMs} ms, not ${count}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async client(email?: string): Promise<TestClient> {
    const client = await TestClient.connect(this.wsUrl);
    if (email) await client.auth(email);
    return client;
  }

  /** Stops the runtime (not Ollama, MCP or the database file) and starts a new one on the same config. */
  async restart(): Promise<void> {
    await this.runtime.close();
    this.runtime = await startRuntime({ config: this.config, logger: this.logger });
  }

  async close(): Promise<void> {
    await this.runtime.close();
    await this.mcp?.close();
    if (this.ownsOllama) await this.ollama.close();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Runtimes for one `describe` block, each closed after its test. `defaults` is read when a runtime starts, so it may
 * name something made in `beforeAll` (a private Redis); `options` given to `start` override it.
 */
export function runtimesClosedAfterEach(defaults: () => TestRuntimeOptions = () => ({})) {
  const started: TestRuntime[] = [];
  const closeAll = async (): Promise<void> => {
    for (const rt of started.splice(0)) await rt.close();
  };
  afterEach(closeAll);
  return {
    async start(options: TestRuntimeOptions = {}): Promise<TestRuntime> {
      const rt = await TestRuntime.start({ ...defaults(), ...options });
      started.push(rt);
      return rt;
    },
    closeAll,
  };
}
