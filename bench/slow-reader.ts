/**
 * `npx tsx bench/slow-reader.ts`: what one chat client that stops reading costs the runtime while a long answer
 * streams, next to one that reads. The runtime runs in its own process (`src/main.ts`), so its RSS is its own; the
 * fake Ollama and the client run here. Through the runtime's inspector port (CDP) the script forces a full GC before
 * each reading, so `heapUsed` is what is live, not garbage waiting for the next collection; RSS comes from /proc.
 *
 * Environment: SLOW_READER_TOKEN_CHARS (default 4: model-sized tokens), SLOW_READER_VOCABULARY (default 50,000), SLOW_READER_ANSWER_BYTES (default 4.7 MB),
 * SLOW_READER_MAX_BACKPRESSURE (default 4 MiB), SLOW_READER_ORDER (default "reads,stalls": scenarios in one runtime),
 * SLOW_READER_HEAP_SNAPSHOT=<file> writes a heap snapshot at the stalled client's peak.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { FakeOllama } from '../tests/support/fake-ollama.js';
import { TestClient } from '../tests/support/ws-client.js';

const TOKEN_CHARS = Number(process.env.SLOW_READER_TOKEN_CHARS ?? 4);
const ANSWER_BYTES = Number(process.env.SLOW_READER_ANSWER_BYTES ?? 4_700_000);
const VOCABULARY = Number(process.env.SLOW_READER_VOCABULARY ?? 50_000);
const MAX_BACKPRESSURE = Number(process.env.SLOW_READER_MAX_BACKPRESSURE ?? 4 * 1024 * 1024);

const MiB = 1024 * 1024;
const mib = (bytes: number) => (bytes / MiB).toFixed(1);

/** A minimal Chrome DevTools Protocol client on the runtime's `--inspect` port. */
class Cdp {
  private nextId = 1;
  private readonly pending = new Map<number, (result: unknown) => void>();
  private readonly listeners = new Map<string, (params: Record<string, unknown>) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { id?: number; result?: unknown; method?: string; params?: Record<string, unknown> };
      if (message.id !== undefined) this.pending.get(message.id)?.(message.result);
      else if (message.method) this.listeners.get(message.method)?.(message.params ?? {});
    });
  }
  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url, { maxPayload: 1024 * MiB });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return new Cdp(ws);
  }
  call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
  on(method: string, listener: (params: Record<string, unknown>) => void): void {
    this.listeners.set(method, listener);
  }
  close(): void {
    this.ws.close();
  }
}

interface Sample {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

function rssBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

/** `gc`: a full collection first (what is live, not what awaits collection); RSS is read after it either way. */
async function sample(cdp: Cdp, pid: number, gc: boolean): Promise<Sample> {
  if (gc) await cdp.call('HeapProfiler.collectGarbage');
  const result = (await cdp.call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
  const usage = JSON.parse(result.result.value) as Sample;
  return { ...usage, rss: rssBytes(pid) };
}

function row(name: string, s: Sample): string {
  return `| ${name} | ${mib(s.rss)} | ${mib(s.heapTotal)} | ${mib(s.heapUsed)} | ${mib(s.external)} | ${mib(s.arrayBuffers)} |`;
}

async function tokensRelayed(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^\w*tokens_relayed_total (\S+)$/m.exec(text)?.[1] ?? 0);
}

async function startRuntime(dir: string, ollamaUrl: string): Promise<{ child: ChildProcess; port: number; cdp: Cdp; output: () => string }> {
  const configPath = join(dir, 'runtime.toml');
  writeFileSync(
    configPath,
    [
      '[llm]',
      `base_url = "${ollamaUrl}"`,
      '[mcp]',
      'mail_server_url = ""',
      '[server]',
      'listen_addr = "127.0.0.1:0"',
      `max_backpressure_bytes = ${MAX_BACKPRESSURE}`,
      '[mail]',
      'embedded = false',
      '[summarization]',
      'enabled = false',
      `db_path = "${join(dir, 'runtime.db')}"`,
      '[rate_limits]',
      'enabled = false',
      '[auth]',
      'dev_mode = true',
      '[log]',
      'level = "info"',
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', '--import', 'tsx', 'src/main.ts', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const found = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(out);
        if (m) resolve(m[1]!);
      };
      child.stdout!.on('data', check);
      child.stderr!.on('data', check);
      child.once('exit', (code) => reject(new Error(`runtime exited with ${code}: ${out}`)));
      check();
    });
  child.stdout!.on('data', (d: Buffer) => (out += String(d)));
  child.stderr!.on('data', (d: Buffer) => (out += String(d)));
  const inspectorUrl = await found(/Debugger listening on (ws:\/\/\S+)/);
  const port = Number(await found(/HTTP server listening on [^:]+:(\d+)/));
  const cdp = await Cdp.connect(inspectorUrl);
  return { child, port, cdp, output: () => out };
}

async function heapSnapshot(cdp: Cdp, file: string): Promise<void> {
  const out = createWriteStream(file);
  cdp.on('HeapProfiler.addHeapSnapshotChunk', (params) => out.write(params.chunk as string));
  await cdp.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  await new Promise((resolve) => out.end(resolve));
}

/** One answer to one client; `stall` stops reading once the chat is accepted. */
async function scenario(name: string, stall: boolean, ollama: FakeOllama, runtime: { pid: number; port: number; cdp: Cdp; output: () => string }): Promise<string[]> {
  const { pid, port, cdp } = runtime;
  const count = Math.ceil(ANSWER_BYTES / TOKEN_CHARS);
  // A vocabulary of distinct words, as a model's: V8 shares equal short strings that JSON.parse makes, so ten words
  // would understate what each token costs.
  const tokens = Array.from({ length: count }, (_, i) => `${(i % VOCABULARY).toString(36)}${'_'.repeat(TOKEN_CHARS)}`.slice(0, TOKEN_CHARS));
  ollama.enqueue({ tokens });
  const client = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
  await client.auth(`${name.replace(/\W/g, '')}@example.com`);
  const relayedBefore = await tokensRelayed(port);
  const before = await sample(cdp, pid, true);
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = await sample(cdp, pid, false);
      if (s.rss > peak.rss) peak = s;
      await sleep(100);
    }
  })();
  const started = Date.now();
  client.send({ type: 'chat', message: 'Tell me everything' });
  await client.next('history');
  if (stall) client.pauseReading();
  let snapshot = stall && process.env.SLOW_READER_HEAP_SNAPSHOT;
  // Done when the runtime has relayed every token (the fake Ollama writes the whole stream long before that).
  while ((await tokensRelayed(port)) - relayedBefore < count) {
    if (snapshot && (await tokensRelayed(port)) - relayedBefore > count * 0.8) {
      await heapSnapshot(cdp, snapshot);
      snapshot = undefined;
    }
    await sleep(200);
  }
  const seconds = (Date.now() - started) / 1000;
  sampling = false;
  await sampler;
  await sleep(500);
  const atEnd = await sample(cdp, pid, true);
  // A client that does not read does not see its close frame either: the runtime's log says whether it closed it.
  const closed = runtime.output().includes('closing a socket that reads too slowly') ? 'closed 4008 by the runtime' : 'open';
  if (stall) client.resumeReading();
  await client.close().catch(() => undefined);
  await sleep(1000);
  const after = await sample(cdp, pid, true);
  return [
    `#### ${name} (${stall ? 'stops reading' : 'reads'}; its socket at the end: ${closed}; ${seconds} s)`,
    '',
    '| when | RSS MiB | heap total MiB | heap used MiB | external MiB | array buffers MiB |',
    '|---|---|---|---|---|---|',
    row('before (after a full GC)', before),
    row('peak RSS while streaming', peak),
    row('answer relayed (after a full GC)', atEnd),
    row('1 s after the socket closed (after a full GC)', after),
    '',
  ];
}

async function main(): Promise<void> {
  const ollama = await FakeOllama.start();
  const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-slow-reader-'));
  const { child, port, cdp, output } = await startRuntime(dir, ollama.url);
  try {
    // Warm-up: first-use allocations (JIT, the first conversation row) are not the slow reader's.
    const warm = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
    await warm.auth('warm@example.com');
    await warm.chat('warm up');
    await warm.close();
    const lines = [`### ${mib(ANSWER_BYTES)} MiB answer in ${TOKEN_CHARS}-character tokens, max_backpressure_bytes ${mib(MAX_BACKPRESSURE)} MiB`, ''];
    for (const which of (process.env.SLOW_READER_ORDER ?? 'reads,stalls').split(',')) {
      lines.push(...(await scenario(which, which.startsWith('stall'), ollama, { pid: child.pid!, port, cdp, output })));
    }
    console.log(lines.join('\n'));
  } finally {
    cdp.close();
    child.kill('SIGKILL');
    await ollama.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
