import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InspectedProcess, type MemorySample } from './inspected-process.js';

export type { MemorySample } from './inspected-process.js';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const LISTENING = /HTTP server listening on [^:]+:(\d+)/;

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
  private constructor(private readonly process: InspectedProcess) {}

  static async start(configPath: string): Promise<InspectedRuntime> {
    return new InspectedRuntime(await InspectedProcess.start({ name: 'the runtime', args: [MAIN, '--config', configPath], ready: LISTENING, inspect: true }));
  }

  get pid(): number {
    return this.process.pid;
  }

  get port(): number {
    return this.process.port;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** The last few KiB the runtime has logged. */
  get output(): string {
    return this.process.output;
  }

  /** See `InspectedProcess.memory`. */
  memory(options: { gc: boolean }): Promise<MemorySample> {
    return this.process.memory(options);
  }

  /** The runtime's `ai_runtime_tokens_relayed_total`: how far a streamed answer has come through it. */
  async tokensRelayed(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    return Number(/^ai_runtime_tokens_relayed_total (\S+)$/m.exec(text)?.[1] ?? 0);
  }

  /** A heap snapshot (for Chrome DevTools' Memory tab) written to `file`. */
  heapSnapshot(file: string): Promise<void> {
    return this.process.heapSnapshot(file);
  }

  /** SIGKILL (nothing of it is worth a graceful stop); safe to call twice. */
  close(): Promise<void> {
    return this.process.close();
  }
}
