import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeEmbeddedConfig } from '../support/embedded-config.js';
import { FakeOllama } from '../support/fake-ollama.js';

/** How long a child of a SIGKILLed runtime may take to notice and exit. */
const ORPHAN_EXIT_MS = 5_000;
const POLL_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Running, not a zombie (pid 1 here may not reap orphans). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** Processes whose command line or working directory mentions `needle`, from /proc (so it also works on old code). */
function pidsMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid || !alive(pid)) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // Not ours to read.
      }
      if (cmdline.includes(needle) || cwd.startsWith(needle)) found.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

describe('a crash of npm start (kill -9) leaves no child holding its ports', () => {
  let dir: string;
  let config: string;
  let ollama: FakeOllama;
  const runtimes: ChildProcess[] = [];
  const learned = new Set<number>();

  /** `npm start` on the test's config; resolves once the runtime, Redis and the mail server are all up. */
  const start = (): Promise<{ child: ChildProcess; output: () => string }> => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    runtimes.push(child);
    let output = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not come up; output:\n${output.slice(-3000)}`)), 30_000);
      const onData = (data: Buffer) => {
        output += String(data);
        if (/Redis \(redis.conf\) listening/.test(output) && /SMTP intake listening on/.test(output) && /HTTP server listening/.test(output)) {
          clearTimeout(timer);
          resolve({ child, output: () => output });
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`npm start exited (${code}); output:\n${output.slice(-3000)}`));
      });
    });
  };

  const mailServerPids = () =>
    pidsMentioning(config).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('mail/main.ts');
      } catch {
        return false;
      }
    });
  const redisPids = () =>
    pidsMentioning(join(dir, 'redis')).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('redis-server');
      } catch {
        return false;
      }
    });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ai-runtime-crash-'));
    ollama = await FakeOllama.start();
    config = (await writeEmbeddedConfig(dir, ollama.url)).path;
  });

  afterEach(async () => {
    // Whatever happened above, nothing of ours may outlive the test: runtimes, mail servers, redis-servers.
    for (const child of runtimes.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    try {
      const pidfile = Number(readFileSync(join(dir, 'redis', 'redis.pid'), 'utf8').trim());
      if (pidfile > 1) learned.add(pidfile);
    } catch {
      // No pidfile (old code, or Redis never started).
    }
    for (const pid of [...learned, ...mailServerPids(), ...redisPids()]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    learned.clear();
    await ollama.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kill -9 of npm start: the mail server exits with it, and the next start replaces the stale Redis and keeps the webhook secret', async () => {
    const first = await start();
    const [mailPid] = mailServerPids();
    const [redisPid] = redisPids();
    expect(mailPid).toBeGreaterThan(0);
    expect(redisPid).toBeGreaterThan(0);
    learned.add(mailPid!).add(redisPid!);
    first.child.kill('SIGKILL');
    const deadline = Date.now() + ORPHAN_EXIT_MS;
    while (alive(mailPid!) && Date.now() < deadline) await sleep(POLL_MS);
    expect(alive(mailPid!), 'the mail server outlived its runtime').toBe(false);
    const secretFile = join(dir, 'webhook-secret');
    const secret = readFileSync(secretFile, 'utf8');

    // Redis cannot watch its parent; the next start must recognise it as ours and replace it.
    const second = await start();
    expect(alive(redisPid!), 'the stale redis-server still runs').toBe(false);
    const [newRedis] = redisPids();
    expect(newRedis).toBeGreaterThan(0);
    learned.add(newRedis!);
    for (const pid of mailServerPids()) learned.add(pid);
    expect(second.output()).toMatch(/redis-server from an earlier run is still running/);

    expect(readFileSync(secretFile, 'utf8')).toBe(secret);
    expect(secret.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);

    // A graceful stop still takes its children along.
    const exited = new Promise((resolve) => second.child.once('exit', resolve));
    second.child.kill('SIGTERM');
    await exited;
    expect(mailServerPids()).toEqual([]);
    expect(redisPids()).toEqual([]);
  }, 60_000);
});
