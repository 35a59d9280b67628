import { mkdirSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from '../logger.js';
import { ChildService } from './child-service.js';
import { REDIS_PIDFILE, stopStaleProcess } from './stale-process.js';

export interface EmbeddedRedisOptions {
  /** The project's `redis.conf`. */
  confPath: string;
  port: number;
  dataDir: string;
  logger: Logger;
  /** Restart after a crash (npm start) or not (tests that stop it on purpose). @default true */
  restart?: boolean;
  output?: NodeJS.WritableStream;
  /** More `redis-server` options, after the file's (tests: a tiny `--maxmemory`). @default [] */
  args?: readonly string[];
}

/** The install hint for a machine without Redis, in the error a user sees first. */
export const REDIS_MISSING_HINT =
  'redis-server is not installed. Install it (Debian/Ubuntu: `sudo apt install redis-server`, macOS: `brew install redis`) or point REDIS_URL at a Redis ≥ 6.2.';

/** A `redis-server` from `redis.conf` on a port of its own, with its data under the project's data folder. */
export class EmbeddedRedis {
  private service: ChildService | undefined;

  constructor(private readonly options: EmbeddedRedisOptions) {}

  get url(): string {
    return `redis://127.0.0.1:${this.options.port}`;
  }

  async start(): Promise<void> {
    const dataDir = resolve(this.options.dataDir);
    mkdirSync(dataDir, { recursive: true });
    const pidfile = resolve(dataDir, REDIS_PIDFILE);
    // redis-server cannot watch its parent: after a kill -9 of `npm start` it lives on with our port and data. It
    // runs in its --dir, so a live redis-server whose working directory is our data folder is that one; its AOF
    // keeps the data across the replacement.
    await stopStaleProcess({
      pidfile,
      name: 'redis-server',
      isOurs: ({ cmdline, cwd }) => /\bredis-server\b/.test(cmdline) && cwd === realpathSync(dataDir),
      logger: this.options.logger,
    });
    this.service = new ChildService({
      name: 'redis-server',
      command: 'redis-server',
      // The command line wins over the file: same durability settings, this project's port and folder.
      args: [resolve(this.options.confPath), '--port', String(this.options.port), '--dir', dataDir, '--pidfile', pidfile, ...(this.options.args ?? [])],
      readyPattern: /Ready to accept connections/,
      restart: this.options.restart ?? true,
      logger: this.options.logger,
      ...(this.options.output ? { output: this.options.output } : {}),
    });
    try {
      await this.service.start();
    } catch (error) {
      if (error instanceof Error && /ENOENT/.test(error.message)) throw new Error(REDIS_MISSING_HINT, { cause: error });
      throw error;
    }
  }

  /** SIGTERM: Redis flushes its AOF and exits. Safe to call twice. */
  async close(): Promise<void> {
    await this.service?.close();
  }
}
