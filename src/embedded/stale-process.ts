import { readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from '../logger.js';

/** In the maildir root: the pid of a mail server `npm start` runs, so the next start can replace one left behind. */
export const MAIL_SERVER_PIDFILE = 'mail-server.pid';
/** In `[redis] data_dir`: written by redis-server itself (`--pidfile`). */
export const REDIS_PIDFILE = 'redis.pid';

/** A stale child gets this long after SIGTERM (Redis flushes its AOF) before SIGKILL. */
const STALE_STOP_GRACE_MS = 5_000;
const STALE_POLL_MS = 100;

/** What a pidfile names, when it names a process that is still alive; undefined otherwise. */
export function livePid(pidfile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidfile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return undefined;
  return isAlive(pid) ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive, but someone else's (and `isOurs` will not recognise it).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie holds no port; where pid 1 does not reap (containers), an exited orphan stays one.
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // The state follows the parenthesised command name, which may itself contain spaces or parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** The process's command line and working directory, from /proc (Linux); empty where they cannot be read. */
export function processInfo(pid: number): { cmdline: string; cwd: string } {
  const read = (fn: () => string): string => {
    try {
      return fn();
    } catch {
      return '';
    }
  };
  return {
    cmdline: read(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')),
    cwd: read(() => readlinkSync(`/proc/${pid}/cwd`)),
  };
}

export function writePidfile(pidfile: string): void {
  writeFileSync(pidfile, `${process.pid}\n`);
}

/** Removes the pidfile only if it still names this process (a successor may have written its own). */
export function removeOwnPidfile(pidfile: string): void {
  try {
    if (Number(readFileSync(pidfile, 'utf8').trim()) === process.pid) rmSync(pidfile, { force: true });
  } catch {
    // Already gone: nothing to clean.
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Signals `pid`; one that exited in the meantime is what we wanted anyway. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * A child a previous `npm start` left behind when it was killed (kill -9 gives it no chance to stop its children)
 * still holds our ports. If the pidfile names a live process that `isOurs` recognises, it gets SIGTERM (then SIGKILL)
 * and this resolves once it is gone, so the new start can take its place. Anything else is left alone.
 */
export async function stopStaleProcess(options: {
  pidfile: string;
  name: string;
  isOurs: (info: { cmdline: string; cwd: string }) => boolean;
  logger: Logger;
}): Promise<void> {
  const pid = livePid(options.pidfile);
  if (pid === undefined || !options.isOurs(processInfo(pid))) return;
  options.logger.warn({ pid, pidfile: options.pidfile }, `a ${options.name} from an earlier run is still running; stopping it to start a fresh one`);
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + STALE_STOP_GRACE_MS;
  while (isAlive(pid) && Date.now() < deadline) await sleep(STALE_POLL_MS);
  if (!isAlive(pid)) return;
  signal(pid, 'SIGKILL');
  // SIGKILL cannot be refused; the short wait is for the kernel to release its ports.
  for (let i = 0; i < STALE_STOP_GRACE_MS / STALE_POLL_MS && isAlive(pid); i++) await sleep(STALE_POLL_MS);
}
