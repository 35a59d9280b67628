/**
 * The bundled mail server in a process of its own, for `bench/imap-accounts.ts`: its memory is then its own, not the
 * benchmark's, Dovecot's or the webhook receiver's. Run with `--expose-gc`.
 *
 * One request a line on stdin, one JSON reply a line on stdout, in order (logs go to stderr):
 * - `start <config JSON>` (what `parseConfig` takes): `{"ready":{"port":<HTTP port>,"startedAt":<ms>}}`, `startedAt`
 *   being the wall clock when `startMailService` was called (the watchers are connecting by the time it returns);
 * - `stop`: `{"stopped":true}` once the running service has closed;
 * - `memory`: `{"memory":{rss, heapUsed, …}}`, after a full GC;
 * - anything failing: `{"error":"…"}`.
 * Services are started and stopped one after another in this one process: a baseline and a reading with accounts
 * then differ by what the accounts hold, not by what two processes' start-ups happened to leave behind (the RSS of
 * two fresh processes differs by up to 4–5 MiB here, as much as 100 accounts add).
 * It exits when stdin ends or its parent (`AI_RUNTIME_PARENT_PID`) is gone, so that a benchmark that dies takes it along.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../../src/config/load.js';
import { PARENT_PID_ENV, watchParent } from '../../src/embedded/parent-watch.js';
import { errorMessage } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { startMailService, type MailService } from '../../src/mail/mail-service.js';

/** How long after a full GC the RSS is watched for the pages it freed: V8 returns them from a background thread. */
const SETTLE_MS = 500;
const SETTLE_STEP_MS = 50;

export interface ChildMemory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export type ChildReply =
  | { ready: { port: number; startedAt: number } }
  | { stopped: true }
  | { memory: ChildMemory }
  | { error: string };

async function memoryAfterGc(): Promise<ChildMemory> {
  const gc = globalThis.gc;
  if (!gc) throw new Error('run with --expose-gc: readings without a forced GC measure garbage, not what is held');
  // Twice: what the first collection's finalizers let go of is collected by the second.
  gc();
  gc();
  const usage = process.memoryUsage();
  let rss = usage.rss;
  for (let waited = 0; waited < SETTLE_MS; waited += SETTLE_STEP_MS) {
    await sleep(SETTLE_STEP_MS);
    rss = Math.min(rss, process.memoryUsage.rss());
  }
  return { rss, heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, external: usage.external, arrayBuffers: usage.arrayBuffers };
}

function die(): void {
  // SIGKILL rather than process.exit: an exit can hang in tsx's loader thread on Node 20 (see src/mail/main.ts).
  process.kill(process.pid, 'SIGKILL');
}

let service: MailService | undefined;

async function handle(line: string): Promise<ChildReply> {
  const [command, ...rest] = line.split(' ');
  switch (command) {
    case 'start': {
      if (service) throw new Error('a mail service is running: stop it first');
      const config = parseConfig(JSON.parse(rest.join(' ')));
      const startedAt = Date.now();
      service = await startMailService({ config, logger: createLogger(config.log.level, 'bench-mail', process.stderr) });
      return { ready: { port: service.mcpPort, startedAt } };
    }
    case 'stop': {
      const stopping = service;
      service = undefined;
      await stopping?.close();
      return { stopped: true };
    }
    case 'memory':
      return { memory: await memoryAfterGc() };
    default:
      throw new Error(`unknown request ${JSON.stringify(command)}`);
  }
}

if (!watchParent(die)) {
  process.stderr.write(`${PARENT_PID_ENV} is not set: nothing would stop this process with the benchmark\n`);
  process.exit(2);
}
// One at a time: a reading taken while a service starts or stops would measure neither state.
let queue = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  queue = queue.then(async () => {
    const reply = await handle(line.trim()).catch((error: unknown): ChildReply => ({ error: errorMessage(error) }));
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  });
});
