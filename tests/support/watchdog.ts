import { spawn } from 'node:child_process';

/**
 * A server a test started outlives the test's process when that process is killed (a test file vitest gave up on): a
 * detached shell watches both and stops the server (SIGTERM) within a second of the test process going away. It ends
 * by itself once the server has gone.
 */
export function stopWhenTestProcessDies(serverPid: number): void {
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${serverPid} 2>/dev/null; do sleep 1; done; kill -TERM ${serverPid} 2>/dev/null; exit 0`;
  spawn('bash', ['-c', script], { detached: true, stdio: 'ignore' }).unref();
}
