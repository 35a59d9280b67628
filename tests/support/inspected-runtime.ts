import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

/** What the runtime process holds, from its own `process.memoryUsage()` and the kernel's VmRSS. */
export interface MemorySample {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const INSPECTOR_URL = /Debugger listening on (ws:\/\/\S+)/;
const LISTENING = /HTTP server listening on [^:]+:(\d+)/;
/** Heap snapshots of a runtime mid-answer are over 100 MB of JSON; `ws` refuses frames past 100 MiB by default. */
const MAX_INSPECTOR_FRAME_BYTES = 1024 * 1024 * 1024;
/** How long after a forced GC the RSS is watched for the pages it freed to be returned (see `memory`). */
const SETTLE_MS = 500;
const SETTLE_STEP_MS = 50;

/** A minimal Chrome DevTools Protocol session: requests by id, and one listener per event. */
export class InspectorSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  private readonly listeners = new Map<string, (params: Record<string, unknown>) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown> };
      if (message.id !== undefined) {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(`inspector: ${message.error.message}`));
        else waiter?.resolve(message.result);
      } else if (message.method) {
        this.listeners.get(message.method)?.(message.params ?? {});
      }
    });
    ws.on('close', () => {
      for (const waiter of this.pending.values()) waiter.reject(new Error('inspector: the session closed'));
      this.pending.clear();
    });
  }

  static async connect(url: string): Promise<InspectorSession> {
    const ws = new WebSocket(url, { maxPayload: MAX_INSPECTOR_FRAME_BYTES });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return new InspectorSession(ws);
  }

  call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
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

/**
 * A `config.toml` for a runtime that needs nothing but the fake Ollama: no Redis, no mail server, dev-mode sign-in,
 * no rate limits (a test's own pace is not what it measures); `server` lines go in `[server]`.
 */
export function writeBareConfig(dir: string, ollamaUrl: string, server: readonly string[] = []): string {
  const path = join(dir, 'runtime.toml');
  writeFileSync(
    path,
    [
      '[llm]',
      `base_url = "${ollamaUrl}"`,
      '[mcp]',
      'mail_server_url = ""',
      '[server]',
      'listen_addr = "127.0.0.1:0"',
      ...server,
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
  return path;
}

/**
 * `src/main.ts` in its own process, so that its RSS is the runtime's alone, with its V8 inspector on a loopback port:
 * through it a full GC is forced before a reading, so that the reading is what the runtime holds, not how much garbage
 * it had made since the last collection (which depends on how busy the machine is).
 */
export class InspectedRuntime {
  private constructor(
    private readonly child: ChildProcess,
    private readonly session: InspectorSession,
    readonly port: number,
    private readonly log: () => string,
  ) {}

  static async start(configPath: string): Promise<InspectedRuntime> {
    const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', '--import', 'tsx', 'src/main.ts', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`runtime exited with ${code}: ${output}`))));
    exited.catch(() => undefined);
    const seen = (pattern: RegExp) =>
      Promise.race([
        new Promise<string>((resolve) => {
          const check = () => {
            const match = pattern.exec(output);
            if (match) resolve(match[1]!);
          };
          child.stdout!.on('data', check);
          child.stderr!.on('data', check);
          check();
        }),
        exited,
      ]);
    child.stdout!.on('data', (data: Buffer) => (output += String(data)));
    child.stderr!.on('data', (data: Buffer) => (output += String(data)));
    try {
      const inspectorUrl = await seen(INSPECTOR_URL);
      const port = Number(await seen(LISTENING));
      return new InspectedRuntime(child, await InspectorSession.connect(inspectorUrl), port, () => output);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** Everything the runtime has logged so far. */
  get output(): string {
    return this.log();
  }

  /**
   * `gc`: after a full garbage collection. V8 hands the pages it freed back to the kernel from a background thread,
   * after the collection: a reading right after it was up to 35 MiB above one 500 ms later. So the RSS is then the
   * least of several readings over `SETTLE_MS`.
   */
  async memory({ gc }: { gc: boolean }): Promise<MemorySample> {
    if (gc) await this.session.call('HeapProfiler.collectGarbage');
    const evaluated = (await this.session.call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
    const usage = JSON.parse(evaluated.result.value) as MemorySample;
    let rss = this.rss();
    for (let waited = 0; gc && waited < SETTLE_MS; waited += SETTLE_STEP_MS) {
      await sleep(SETTLE_STEP_MS);
      rss = Math.min(rss, this.rss());
    }
    return { ...usage, rss };
  }

  /** VmRSS, bytes. */
  rss(): number {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'))![1]) * 1024;
  }

  /** The runtime's `ai_runtime_tokens_relayed_total`: how far a streamed answer has come through it. */
  async tokensRelayed(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    return Number(/^ai_runtime_tokens_relayed_total (\S+)$/m.exec(text)?.[1] ?? 0);
  }

  /** A heap snapshot (for Chrome DevTools' Memory tab) written to `file`. */
  async heapSnapshot(file: string): Promise<void> {
    const out = createWriteStream(file);
    this.session.on('HeapProfiler.addHeapSnapshotChunk', (params) => out.write(params.chunk as string));
    await this.session.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    await new Promise((resolve) => out.end(resolve));
  }

  /** SIGKILL (nothing of it is worth a graceful stop); safe to call twice. */
  async close(): Promise<void> {
    this.session.close();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}
