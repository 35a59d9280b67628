import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('servers a test starts go with its process, even a killed one', () => {
  it('a SIGKILL of the test process stops its Dovecot and its Redis within seconds', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'tests/support/start-and-report.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pids = await new Promise<{ dovecot: number; redis: number }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += String(d);
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line) as { dovecot: number; redis: number });
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    expect(alive(pids.dovecot) && alive(pids.redis)).toBe(true);
    child.kill('SIGKILL');
    try {
      await expect.poll(() => alive(pids.dovecot) || alive(pids.redis), { timeout: 15_000, interval: 200 }).toBe(false);
    } finally {
      for (const pid of [pids.dovecot, pids.redis]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 40_000);
});
