import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ENV_OVERRIDES, MUST_NOT_BE_EMPTY, loadConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { isLoopbackHost } from '../src/net/loopback.js';
import { FakeOllama } from './support/fake-ollama.js';
import { MainProcesses, type MainOutcome } from './support/main-process.js';
import { TestRuntime } from './support/runtime-harness.js';

/** Auth variables of the machine running the tests must not leak into the entry point under test. */
const AUTH_VARIABLES = ['JWT_SECRET', 'JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE', 'ADMIN_TOKEN', 'LISTEN_ADDR', 'PORT', 'AI_RUNTIME_CONFIG'];

let dir: string;
let ollama: FakeOllama;
const mains = new MainProcesses();
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ai-runtime-exposure-'));
  ollama = await FakeOllama.start();
});
afterEach(() => mains.killAll());
afterAll(async () => {
  await ollama.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A config like a fresh checkout's, minus the parts a test does not need (Redis, the mail server). */
function configFile(name: string, listenAddr?: string): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    [
      '[llm]',
      `base_url = "${ollama.url}"`,
      '[mcp]',
      'mail_server_url = ""',
      '[mail]',
      'embedded = false',
      '[summarization]',
      'enabled = false',
      `db_path = "${join(dir, `${name}.db`)}"`,
      ...(listenAddr ? ['[server]', `listen_addr = "${listenAddr}"`] : []),
    ].join('\n'),
  );
  return path;
}

/** `npm start` with this config file, the machine's own auth variables left out. */
function startMain(config: string, env: Record<string, string>): Promise<MainOutcome> {
  return mains.start(['--config', config], env, AUTH_VARIABLES);
}

describe('dev-mode sign-in stays on this machine', () => {
  it('an attacker on the LAN cannot reach dev-mode sign-in: dev mode on 0.0.0.0 is refused at start (exit 2)', async () => {
    const started = await startMain(configFile('lan.toml'), { LISTEN_ADDR: '0.0.0.0:0' });
    expect(started.port, started.output).toBeUndefined();
    expect(started.code).toBe(2);
    for (const name of ['auth.dev_mode', 'server.listen_addr', 'JWT_SECRET']) expect(started.output).toContain(name);
  });

  it('a fresh checkout listens on loopback only, with dev mode', async () => {
    const started = await startMain(configFile('fresh.toml'), { PORT: '0' });
    expect(started.port, started.output).toBeGreaterThan(0);
    expect(started.output).toMatch(/HTTP server listening on 127\.0\.0\.1:\d+/);
    expect(started.output).toContain('DEV MODE');
  });

  it('JWT_SECRET="" is a configuration error, never dev mode', async () => {
    const started = await startMain(configFile('empty-secret.toml', '127.0.0.1:0'), { JWT_SECRET: '' });
    expect(started.port, started.output).toBeUndefined();
    expect(started.code).toBe(2);
    expect(started.output).toContain('JWT_SECRET');
    expect(started.output).not.toContain('DEV MODE');
  });

  it('an empty auth or secret variable names itself; empty harmless ones still mean "unset"', () => {
    for (const variable of ['JWT_SECRET', 'JWKS_URL', 'ADMIN_TOKEN', 'WEBHOOK_SECRET', 'METRICS_TOKEN', 'JWT_ISSUER', 'JWT_AUDIENCE']) {
      expect(() => loadConfig({ argv: [], env: { [variable]: '' }, cwd: dir }), variable).toThrow(ConfigError);
      expect(() => loadConfig({ argv: [], env: { [variable]: '' }, cwd: dir }), variable).toThrow(variable);
    }
    const { config } = loadConfig({ argv: [], env: { OLLAMA_MODEL: '', LOG_LEVEL: '', REDIS_URL: '' }, cwd: dir });
    expect(config.llm.model).toBe('llama3.1:8b');
    const known = new Set<string>(ENV_OVERRIDES.map(([variable]) => variable));
    expect([...MUST_NOT_BE_EMPTY].filter((variable) => !known.has(variable))).toEqual([]);
  });

  it('an embedder cannot serve dev mode on the network either: startRuntime refuses with a ConfigError', async () => {
    for (const listen_addr of ['0.0.0.0:0', '[::]:0', '192.0.2.10:0']) {
      // Our Ollama and folder: a refused start must not leave a harness-owned one behind.
      const attempt = TestRuntime.start({ mcp: false, ollama, dir, config: { server: { listen_addr }, auth: { dev_mode: true } } });
      const outcome = await attempt.then(
        async (rt) => {
          await rt.close();
          return undefined;
        },
        (error: unknown) => error,
      );
      expect(outcome, listen_addr).toBeInstanceOf(ConfigError);
      expect((outcome as Error).message).toContain('server.listen_addr');
    }
  });

  it('a web page the user visits cannot sign in through dev mode: allowed_origins = ["*"] with dev mode is refused at start', async () => {
    const attempt = TestRuntime.start({ mcp: false, ollama, dir, config: { server: { allowed_origins: ['*'] }, auth: { dev_mode: true } } });
    const outcome = await attempt.then(
      async (rt) => {
        await rt.close();
        return undefined;
      },
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(ConfigError);
    expect((outcome as Error).message).toMatch(/auth\.dev_mode.*server\.allowed_origins/);
  });

  it('knows loopback: 127.0.0.0/8, ::1 and localhost, nothing else', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', '128.0.0.1', '::ffff:10.0.0.1', 'localhost.example.com']) expect(isLoopbackHost(host), host).toBe(false);
  });
});
