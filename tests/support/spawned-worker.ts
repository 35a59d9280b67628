import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { TestRuntime } from './runtime-harness.js';

/** `npm run worker` as its own process, on a runtime's Redis queue, LLM and database. */
export class SpawnedWorker {
  output = '';
  private readonly exited: Promise<void>;

  private constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.output += String(d)));
    child.stderr?.on('data', (d: Buffer) => (this.output += String(d)));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Resolves once it logs that it runs; `toml` is its config file's text (e.g. the runtime's `[redis] prefix`). */
  static async start(rt: TestRuntime, redisUrl: string, toml: string): Promise<SpawnedWorker> {
    const configPath = join(rt.dir, `worker-${Date.now()}-${Math.random().toString(36).slice(2)}.toml`);
    writeFileSync(configPath, toml);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
      env: {
        ...process.env,
        REDIS_URL: redisUrl,
        OLLAMA_BASE_URL: rt.ollama.url,
        AI_RUNTIME_DB_PATH: join(rt.dir, 'runtime.db'),
        LOG_LEVEL: 'info',
        WORKER_METRICS_ADDR: '127.0.0.1:0',
        AI_RUNTIME_CONFIG: configPath,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const worker = new SpawnedWorker(child);
    await expect.poll(() => worker.output, { timeout: 15_000 }).toContain('summary worker running');
    return worker;
  }

  /** `kill -9`: no cleanup of any kind, as a crash or the OOM killer would leave it. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** A graceful stop; a no-op once it has exited. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}
