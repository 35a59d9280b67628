import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { EmbeddedRedis } from '../../src/embedded/redis-server.js';
import { createLogger } from '../../src/logger.js';
import { freePort } from './embedded-config.js';
import { stopWhenTestProcessDies } from './watchdog.js';

const quiet = new Writable({ write: (_chunk, _enc, done) => done() });

/** A private Redis from the project's redis.conf, on a free port, in a temp dir: never the machine's own Redis. */
export class TestRedis {
  private redis: EmbeddedRedis;
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly args: readonly string[],
  ) {
    this.redis = this.create();
  }

  private create(): EmbeddedRedis {
    return new EmbeddedRedis({
      confPath: new URL('../../redis.conf', import.meta.url).pathname,
      port: this.port,
      dataDir: join(this.dir, 'data'),
      logger: createLogger('silent'),
      restart: false,
      output: process.env.TEST_LOG_LEVEL ? process.stdout : quiet,
      args: this.args,
    });
  }

  /** `args`: more `redis-server` options over redis.conf's, e.g. `['--maxmemory', '8mb']`. */
  static async start(args: readonly string[] = []): Promise<TestRedis> {
    const redis = new TestRedis(await freePort(), mkdtempSync(join(tmpdir(), 'ai-runtime-redis-')), args);
    await redis.redis.start();
    redis.watch();
    return redis;
  }

  /** The redis-server's pid while it runs. */
  get pid(): number {
    return Number(readFileSync(join(this.dir, 'data', 'redis.pid'), 'utf8').trim());
  }

  /** Stopped with the test process, even one killed. */
  private watch(): void {
    if (this.pid > 0) stopWhenTestProcessDies(this.pid);
  }

  get url(): string {
    return this.redis.url;
  }

  /** Stops Redis (it writes its AOF first); `restart()` brings it back on the same port with the same data. */
  async stop(): Promise<void> {
    await this.redis.close();
  }

  async restart(): Promise<void> {
    this.redis = this.create();
    await this.redis.start();
    this.watch();
  }

  /**
   * Freezes the server (SIGSTOP) for `ms`: connections open, but no command is answered until it thaws. Resolves when
   * it is frozen; `thawed` resolves when it answers again.
   */
  freeze(ms: number): { thawed: Promise<void> } {
    const pid = Number(readFileSync(join(this.dir, 'data', 'redis.pid'), 'utf8').trim());
    process.kill(pid, 'SIGSTOP');
    const thawed = new Promise<void>((resolve) =>
      setTimeout(() => {
        process.kill(pid, 'SIGCONT');
        resolve();
      }, ms),
    );
    return { thawed };
  }

  async close(): Promise<void> {
    await this.redis.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
