import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { configuredServers } from '../src/mcp/registry.js';
import { ConfigError } from '../src/errors.js';
import { FakeOllama } from './support/fake-ollama.js';
import { MainProcesses } from './support/main-process.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ai-runtime-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const SEED_CONFIG = `
[llm]
provider = "ollama"
model = "qwen2.5:3b"
base_url = "http://ollama.internal:11434"
temperature = 0.2
max_tokens = 512
context_size = 8192

[mcp]
mail_server_url = "http://localhost:8090"
max_tool_steps = 3

[[mcp.servers]]
name = "calendar"
url = "http://localhost:9000/mcp"

[[mcp.servers]]
name = "notes"
command = "node"
args = ["notes-server.js", "--stdio"]

[mcp.approval]
send_email = "required"
mark_as_read = "auto"

[server]
listen_addr = "127.0.0.1:9999"
websocket_path = "/socket"

[summarization]
enabled = true
db_path = "summaries.db"
auto_summarize = false
`;

describe('configuration', () => {
  it('has working defaults without any file', () => {
    const { config, path } = loadConfig({ argv: [], env: {}, cwd: dir });
    expect(path).toBeUndefined();
    expect(config.llm).toMatchObject({ provider: 'ollama', model: 'llama3.1:8b', base_url: 'http://localhost:11434', temperature: 0.7, max_tokens: 2000, context_size: 4096 });
    expect(config.server).toMatchObject({ listen_addr: '127.0.0.1:8888', websocket_path: '/ws' });
    expect(config.mcp).toMatchObject({ max_tool_steps: 5, servers: [] });
    // Unset means the bundled mail server.
    expect(configuredServers(config)).toEqual([{ name: 'mail', url: 'http://127.0.0.1:8090/mcp' }]);
  });

  it('reads the seed\'s keys plus [[mcp.servers]] and [mcp.approval] from --config', () => {
    const path = file('seed.toml', SEED_CONFIG);
    const { config } = loadConfig({ argv: ['--config', path], env: {}, cwd: dir });
    expect(config.llm).toMatchObject({ model: 'qwen2.5:3b', base_url: 'http://ollama.internal:11434', temperature: 0.2, max_tokens: 512, context_size: 8192 });
    expect(config.mcp.servers).toEqual([
      { name: 'calendar', url: 'http://localhost:9000/mcp' },
      { name: 'notes', command: 'node', args: ['notes-server.js', '--stdio'] },
    ]);
    expect(config.mcp.approval).toEqual({ send_email: 'required', mark_as_read: 'auto' });
    expect(config.mcp.max_tool_steps).toBe(3);
    expect(config.server).toMatchObject({ listen_addr: '127.0.0.1:9999', websocket_path: '/socket' });
    expect(config.summarization).toMatchObject({ enabled: true, db_path: 'summaries.db', auto_summarize: false });
  });

  it('finds the file from --config=, AI_RUNTIME_CONFIG, then ./config.toml', () => {
    const a = file('a.toml', '[llm]\nmodel = "from-flag"\n');
    const b = file('b.toml', '[llm]\nmodel = "from-env"\n');
    file('config.toml', '[llm]\nmodel = "from-cwd"\n');
    expect(loadConfig({ argv: [`--config=${a}`], env: { AI_RUNTIME_CONFIG: b }, cwd: dir }).config.llm.model).toBe('from-flag');
    expect(loadConfig({ argv: [], env: { AI_RUNTIME_CONFIG: b }, cwd: dir }).config.llm.model).toBe('from-env');
    expect(loadConfig({ argv: [], env: {}, cwd: dir }).config.llm.model).toBe('from-cwd');
    rmSync(join(dir, 'config.toml'));
  });

  it('lets the environment override the file', () => {
    const path = file('env.toml', SEED_CONFIG);
    const { config } = loadConfig({
      argv: ['--config', path],
      env: { OLLAMA_BASE_URL: 'http://gpu-box:11434', MCP_MAIL_SERVER_URL: 'http://mail:8090', PORT: '7000', LOG_LEVEL: 'debug', OLLAMA_MODEL: 'llama3.2' },
      cwd: dir,
    });
    expect(config.llm.base_url).toBe('http://gpu-box:11434');
    expect(config.llm.model).toBe('llama3.2');
    expect(config.mcp.mail_server_url).toBe('http://mail:8090');
    expect(config.server.listen_addr).toBe('127.0.0.1:7000');
    expect(config.log.level).toBe('debug');
  });

  it.each([
    ['an unknown key', '[llm]\nmodle = "x"\n', 'llm.modle'],
    ['an unknown section', '[llmm]\nmodel = "x"\n', 'llmm'],
    ['a wrong type', '[llm]\ntemperature = "hot"\n', 'llm.temperature'],
    ['a bad listen address', '[server]\nlisten_addr = "8888"\n', 'server.listen_addr'],
    ['an MCP server with neither url nor command', '[[mcp.servers]]\nname = "x"\n', 'mcp.servers.0'],
    ['a bad approval policy', '[mcp.approval]\nsend_email = "maybe"\n', 'mcp.approval.send_email'],
    ['a guessable admin token (under 32 characters)', '[admin]\ntoken = "admin-secret"\n', 'admin.token'],
  ])('stops on %s with a message naming the key', (_name, toml, key) => {
    const path = file('bad.toml', toml);
    expect(() => loadConfig({ argv: ['--config', path], env: {}, cwd: dir })).toThrow(ConfigError);
    expect(() => loadConfig({ argv: ['--config', path], env: {}, cwd: dir })).toThrow(key);
  });

  it('PORT alone keeps the loopback default host', () => {
    expect(loadConfig({ argv: [], env: { PORT: '7000' }, cwd: dir }).config.server.listen_addr).toBe('127.0.0.1:7000');
    expect(loadConfig({ argv: [], env: { PORT: '7000', LISTEN_ADDR: '0.0.0.0:1' }, cwd: dir }).config.server.listen_addr).toBe('0.0.0.0:7000');
  });

  it('an admin token is at least 32 characters, from the file or ADMIN_TOKEN', () => {
    expect(() => loadConfig({ argv: [], env: { ADMIN_TOKEN: 'short-admin-token' }, cwd: dir })).toThrow(/admin\.token: token must be at least 32 characters/);
    expect(loadConfig({ argv: [], env: { ADMIN_TOKEN: 'x'.repeat(32) }, cwd: dir }).config.admin.token).toHaveLength(32);
  });

  it('names a bad environment value', () => {
    expect(() => loadConfig({ argv: [], env: { OLLAMA_BASE_URL: 'not a url' }, cwd: dir })).toThrow('llm.base_url');
    expect(() => loadConfig({ argv: [], env: { PORT: 'eighty' }, cwd: dir })).toThrow('PORT');
  });

  it('reports invalid TOML and a missing file clearly', () => {
    const path = file('broken.toml', '[llm\nmodel = ');
    expect(() => loadConfig({ argv: ['--config', path], env: {}, cwd: dir })).toThrow(/not valid TOML/);
    expect(() => loadConfig({ argv: ['--config', join(dir, 'missing.toml')], env: {}, cwd: dir })).toThrow(/cannot read config file/);
  });
});

describe('npm start with a config file', () => {
  let ollama: FakeOllama;
  const mains = new MainProcesses();
  beforeAll(async () => {
    ollama = await FakeOllama.start();
  });
  afterEach(() => mains.killAll());
  afterAll(() => ollama.close());

  const startMain = (args: readonly string[], env: Record<string, string>) => mains.start(args, env);

  it('starts with --config and with AI_RUNTIME_CONFIG, serving /health with that config', async () => {
    const path = file(
      'start.toml',
      `[llm]\nbase_url = "${ollama.url}"\n[mcp]\nmail_server_url = ""\n[mail]\nembedded = false\n[server]\nlisten_addr = "127.0.0.1:0"\n[summarization]\nenabled = false\ndb_path = "${join(dir, 'start.db')}"\n`,
    );
    for (const [args, env] of [
      [['--config', path], {}],
      [[], { AI_RUNTIME_CONFIG: path }],
    ] as const) {
      const started = await startMain([...args], env);
      expect(started.port, started.output).toBeGreaterThan(0);
      expect(started.output).toContain('Model: llama3.1:8b loaded successfully');
      const health = (await (await fetch(`http://127.0.0.1:${started.port}/health`)).json()) as { status: string };
      expect(health.status).toBe('ok');
      mains.stopLatest();
    }
  });

  it('without Ollama still starts and says what is missing and how to fix it', async () => {
    const path = file(
      'no-ollama.toml',
      `[llm]\nbase_url = "http://127.0.0.1:9"\n[mcp]\nmail_server_url = ""\n[mail]\nembedded = false\n[server]\nlisten_addr = "127.0.0.1:0"\n[summarization]\nenabled = false\ndb_path = "${join(dir, 'no-ollama.db')}"\n`,
    );
    const started = await startMain(['--config', path], {});
    expect(started.port, started.output).toBeGreaterThan(0);
    expect(started.output).toContain('Ollama is not reachable at http://127.0.0.1:9');
    const health = (await (await fetch(`http://127.0.0.1:${started.port}/health`)).json()) as { status: string; llm: { message: string } };
    expect(health.status).toBe('degraded');
    expect(health.llm.message).toContain('ollama serve');
  });

  it('exits with code 2 and names the key when the config is wrong', async () => {
    const path = file('wrong.toml', '[server]\nlisten_adr = "127.0.0.1:0"\n');
    const result = await startMain(['--config', path], {});
    expect(result.code).toBe(2);
    expect(result.output).toContain('server.listen_adr');
  });
});
