import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../logger.js';
import { PARENT_PID_ENV } from './parent-watch.js';

export interface ChildServiceOptions {
  /** For logs: "mail-server", "redis-server". */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** A line of the child's output that means it is ready. */
  readyPattern: RegExp;
  /** @default 30000 */
  readyTimeoutMs?: number;
  /** Restart after a crash, with backoff. @default true */
  restart?: boolean;
  /** The child's own output is forwarded here (it logs JSON lines of its own). @default process.stdout */
  output?: NodeJS.WritableStream;
  logger: Logger;
  /**
   * The child watches us (see `watchParent`): it gets our pid and a stdin pipe that closes when we die, even by
   * SIGKILL, so it does not outlive us holding its ports. @default false
   */
  watchParent?: boolean;
}

const FIRST_RESTART_DELAY_MS = 1_000;
const MAX_RESTART_DELAY_MS = 30_000;
/** After SIGTERM, how long a child gets to exit before SIGKILL. */
const STOP_GRACE_MS = 5_000;

/**
 * A process `npm start` runs next to the runtime (the mail server, Redis): started and awaited until it says it is
 * ready, restarted with backoff if it dies, stopped with the runtime.
 */
export class ChildService {
  private child: ChildProcess | undefined;
  private closed = false;
  private restartDelay = FIRST_RESTART_DELAY_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly options: Required<Omit<ChildServiceOptions, 'env'>> & Pick<ChildServiceOptions, 'env'>;

  constructor(options: ChildServiceOptions) {
    this.options = { readyTimeoutMs: 30_000, restart: true, output: process.stdout, watchParent: false, ...options };
  }

  /** Resolves once the child printed its ready line; rejects if it exits or stays silent past the timeout. */
  start(): Promise<void> {
    const { name, command, args, env, readyPattern, readyTimeoutMs, logger, output, watchParent } = this.options;
    const child = spawn(command, args, {
      env: watchParent ? { ...(env ?? process.env), [PARENT_PID_ENV]: String(process.pid) } : (env ?? process.env),
      // Nothing is written to the pipe: its end closing is the message.
      stdio: [watchParent ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      let seen = '';
      const timer = setTimeout(() => {
        if (ready) return;
        reject(new Error(`${name} did not become ready within ${readyTimeoutMs} ms. Its output:\n${seen.slice(-2000)}`));
        child.kill('SIGKILL');
      }, readyTimeoutMs);
      const onOutput = (data: Buffer) => {
        output.write(data);
        if (ready) return;
        seen += String(data);
        if (readyPattern.test(seen)) {
          ready = true;
          clearTimeout(timer);
          this.restartDelay = FIRST_RESTART_DELAY_MS;
          resolve();
        }
      };
      child.stdout?.on('data', onOutput);
      child.stderr?.on('data', onOutput);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${name} (${command}): ${error.message}`, { cause: error }));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (!ready) {
          reject(new Error(`${name} exited before it was ready (code ${code ?? signal}). Its output:\n${seen.slice(-2000)}`));
          return;
        }
        if (this.closed || this.child !== child) return;
        logger.error({ child: name, code, signal, restartInMs: this.restartDelay }, `${name} exited; restarting`);
        if (this.options.restart) this.scheduleRestart();
      });
    });
  }

  private scheduleRestart(): void {
    this.restartTimer = setTimeout(() => {
      this.start().catch((err: unknown) => {
        this.options.logger.error({ child: this.options.name, err: err instanceof Error ? err.message : String(err) }, 'restart failed');
        if (!this.closed) this.scheduleRestart();
      });
    }, this.restartDelay);
    this.restartDelay = Math.min(this.restartDelay * 2, MAX_RESTART_DELAY_MS);
  }

  /** SIGTERM, then SIGKILL after a grace period. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}
