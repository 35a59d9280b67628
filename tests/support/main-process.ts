import { spawn, type ChildProcess } from 'node:child_process';
import { startNodeFlags } from './start-flags.js';

export interface MainOutcome {
  /** The port it logged as listening on, once it did. */
  port?: number;
  /** Its exit code, when it exited before listening. */
  code?: number | null;
  output: string;
}

/**
 * `src/main.ts` started the way `npm start` starts it. Tests give it configs without Redis or the mail server, so
 * that a SIGKILL at the end leaves no child behind.
 */
export class MainProcesses {
  private readonly children: ChildProcess[] = [];

  /** Resolves with the port it logs, or with its exit code; `env` is merged over this process's, minus `unset`. */
  start(args: readonly string[], env: Record<string, string>, unset: readonly string[] = []): Promise<MainOutcome> {
    const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !unset.includes(name)));
    const child = spawn(process.execPath, [...startNodeFlags('.'), '--import', 'tsx', 'src/main.ts', ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    let output = '';
    return new Promise((resolve) => {
      const onData = (data: Buffer) => {
        output += String(data);
        const match = /HTTP server listening on [^:]+:(\d+)/.exec(output);
        if (match) resolve({ port: Number(match[1]), output });
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('exit', (code) => resolve({ code, output }));
    });
  }

  /** SIGTERM to the newest one (a graceful stop). */
  stopLatest(): void {
    this.children.pop()?.kill('SIGTERM');
  }

  /** For afterEach: every one still running is killed. */
  killAll(): void {
    for (const child of this.children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  }
}
