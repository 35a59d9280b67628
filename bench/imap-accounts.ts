/**
 * `npm run bench:imap-accounts` (and a part of `npm run bench`): what an idle watched IMAP account costs the bundled
 * mail server, and that `[mail] imap_max_connections` holds. One private Dovecot with BENCH_IMAP_ACCOUNTS users
 * (default 100). The mail server runs in a process of its own (`bench/support/imap-mail-server.ts`), so that its
 * memory is its own; the services below are started and stopped one after another in it, and every reading follows
 * a forced full GC there.
 *
 * 1. A warm-up service with 10 other accounts, one mail each. 2. 0 accounts: the baseline. 3. All accounts declared
 * in `[[mail.accounts]]`: each watcher holds one IDLE connection; read once all are `watching`, again once one mail
 * delivered to each has been announced to a webhook receiver, and once that service has stopped. 4. The same accounts
 * under `imap_max_connections = BENCH_IMAP_CAP` (default 50): only that many may reach Dovecot, and the watchers only
 * their share of it (a tenth is kept for tool calls).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ConfigInput } from '../src/config/schema.js';
import { callReserve } from '../src/mail/imap/connection-slots.js';
import { PARENT_PID_ENV } from '../src/embedded/parent-watch.js';
import { TestDovecot } from '../tests/support/dovecot.js';
import { WebhookReceiver } from '../tests/support/webhook-receiver.js';
import type { ChildMemory, ChildReply } from './support/imap-mail-server.js';

const ACCOUNTS = Number(process.env.BENCH_IMAP_ACCOUNTS ?? 100);
const CAP = Number(process.env.BENCH_IMAP_CAP ?? 50);
/** The watchers' share of the cap: the rest is kept for tool calls. */
const WATCHERS_UNDER_CAP = CAP - callReserve(CAP);
/** For a report's command line. */
export const IMAP_BENCH_KNOBS = `BENCH_IMAP_ACCOUNTS=${ACCOUNTS}, BENCH_IMAP_CAP=${CAP}`;
const SECRET = 'bench-imap-secret';
const CHILD = fileURLToPath(new URL('./support/imap-mail-server.ts', import.meta.url));
const DOVECOT = '/usr/sbin/dovecot';
/** Each wait ends as soon as its condition holds; past this, the run fails with what it saw. */
const DEADLINE_MS = 30_000;
/** With the cap reached, how long the waiting watchers get to (wrongly) get through before the count is taken. */
const CAP_HOLD_MS = 1_500;
/** LMTP deliveries at once: Dovecot's lmtp service starts a process per session. */
const DELIVERY_CONCURRENCY = 10;

const MiB = 1024 * 1024;
const mib = (bytes: number) => (bytes / MiB).toFixed(1);
const kib = (bytes: number) => (bytes / 1024).toFixed(1);

type WatchState = 'watching' | 'connecting' | 'retrying' | 'none';

const users = Array.from({ length: ACCOUNTS }, (_, i) => `user${String(i).padStart(3, '0')}@bench.example`);
/**
 * A service of their own runs first, and a mail to each is announced: what any first account or mail brings once
 * (compiled code, parsers' tables) is then in the baseline rather than counted per account.
 */
const warmUsers = Array.from({ length: 10 }, (_, i) => `warm${i}@bench.example`);
const passwordOf = (user: string) => `pw-${user}`;

/**
 * The mail server's process (`bench/support/imap-mail-server.ts`): one service at a time is started in it, read and
 * stopped through a line protocol on stdin/stdout; a running service is reached over its HTTP port.
 */
class MailServerProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly replies: Array<(reply: ChildReply) => void> = [];
  private stderr = '';
  private reconnectCount = 0;
  private readonly exited: Promise<string>;
  private service: { port: number; startedAt: number } | undefined;

  constructor() {
    // The young generation held at 1 MiB a semi-space: grown to 16 under load, it is shrunk back by V8's memory
    // reducer only some seconds after activity stops, which swung the RSS by 30 MiB between two readings, ten times
    // what 100 accounts add. An idle server's young generation ends up this small anyway.
    const child = spawn(process.execPath, ['--expose-gc', '--max-semi-space-size=1', '--import', 'tsx', CHILD], {
      env: { ...process.env, [PARENT_PID_ENV]: String(process.pid) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(`the mail server's process exited (${code ?? signal}): ${this.stderr}`)));
    createInterface({ input: child.stderr }).on('line', (line) => {
      this.stderr = `${this.stderr}${line}\n`.slice(-8_000);
      if (line.includes('Watching the inbox for new mail failed')) this.reconnectCount += 1;
    });
    // Replies are JSON lines; anything else there (a stray warning) is not one.
    createInterface({ input: child.stdout }).on('line', (line) => line.startsWith('{') && this.replies.shift()?.(JSON.parse(line) as ChildReply));
    // A write to a process that has died: its exit is what `request` reports.
    child.stdin.on('error', () => undefined);
  }

  /** Starts a service with `config`; resolves once `startMailService` has returned there. */
  async start(config: ConfigInput): Promise<void> {
    const reply = await this.request(`start ${JSON.stringify(config)}`);
    if (!('ready' in reply)) throw new Error(`starting the mail service: ${JSON.stringify(reply)}`);
    this.service = reply.ready;
    this.reconnectCount = 0;
  }

  /** Wall clock when `startMailService` was called for the running service. */
  get startedAt(): number {
    return this.running().startedAt;
  }

  /** Watcher connections of the running service that failed and were made again (each is logged at warn). */
  get reconnects(): number {
    return this.reconnectCount;
  }

  /** Closes the running service (its watchers log out). */
  async stop(): Promise<void> {
    this.service = undefined;
    const reply = await this.request('stop');
    if (!('stopped' in reply)) throw new Error(`stopping the mail service: ${JSON.stringify(reply)}`);
  }

  async memory(): Promise<ChildMemory> {
    const reply = await this.request('memory');
    if (!('memory' in reply)) throw new Error(`reading the mail server's memory: ${JSON.stringify(reply)}`);
    return reply.memory;
  }

  async state(user: string): Promise<WatchState> {
    const response = await fetch(`http://127.0.0.1:${this.running().port}/accounts/${encodeURIComponent(user)}`);
    const view = (await response.json()) as { watch?: { state: WatchState } };
    return view.watch?.state ?? 'none';
  }

  async states(of: readonly string[]): Promise<Map<WatchState, number>> {
    const counts = new Map<WatchState, number>();
    for (const state of await Promise.all(of.map((user) => this.state(user)))) counts.set(state, (counts.get(state) ?? 0) + 1);
    return counts;
  }

  async pendingAnnouncements(): Promise<number> {
    const health = (await (await fetch(`http://127.0.0.1:${this.running().port}/health`)).json()) as { announcements?: { pending: number } };
    return health.announcements?.pending ?? Number.NaN;
  }

  get log(): string {
    return this.stderr;
  }

  /** SIGKILL, by its pid: nothing of it needs keeping. Safe to call twice. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  private running(): { port: number; startedAt: number } {
    if (!this.service) throw new Error('no mail service is running');
    return this.service;
  }

  private async request(line: string): Promise<ChildReply> {
    const reply = new Promise<ChildReply>((resolve) => this.replies.push(resolve));
    this.child.stdin.write(`${line}\n`);
    const gaveUp = new AbortController();
    const timeout = sleep(DEADLINE_MS, undefined, { signal: gaveUp.signal }).then(
      () => Promise.reject(new Error(`no answer to ${line.split(' ')[0]} within ${DEADLINE_MS} ms: ${this.stderr}`)),
      () => new Promise<never>(() => undefined),
    );
    const died = this.exited.then((why) => Promise.reject(new Error(why)));
    // The timer is cancelled once answered: left running, it would hold the benchmark's exit back by its full length.
    return Promise.race([reply, timeout, died]).finally(() => gaveUp.abort());
  }
}

function mailConfig(root: string, webhookPort: number, dovecot: TestDovecot, accounts: readonly string[], maxConnections?: number): ConfigInput {
  return {
    mail: {
      maildir_root: root,
      mcp_listen_addr: '127.0.0.1:0',
      smtp_listen_addr: '127.0.0.1:0',
      runtime_webhook_url: `http://127.0.0.1:${webhookPort}/api/webhooks/email`,
      accounts: accounts.map((user) => ({
        user,
        imap_url: `imap://127.0.0.1:${dovecot.port}`,
        smtp_url: `smtp://127.0.0.1:${dovecot.submissionPort}`,
        username: user,
        password: passwordOf(user),
      })),
      ...(maxConnections !== undefined ? { imap_max_connections: maxConnections } : {}),
    },
    // The triage lookup's database (empty here), beside the Maildir rather than in the checkout's data/.
    summarization: { db_path: `${root}.db` },
    webhooks: { secret: SECRET },
    log: { level: 'warn' },
  };
}

/** Established connections on Dovecot's IMAP port, counted on Dovecot's side of them (`sport`). */
function dovecotSessions(port: number): number {
  const out = spawnSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`ss failed: ${out.stderr}`);
  return out.stdout.split('\n').filter((line) => line.trim() !== '').length;
}

async function waitUntil(what: string, condition: () => Promise<boolean> | boolean, context: () => Promise<string> | string, stepMs = 50): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${DEADLINE_MS} ms waiting until ${what}.\n${await context()}`);
    await sleep(stepMs);
  }
}

/** Polls only the accounts not yet watching, so that the polling itself loads the mail server little. */
async function allWatching(server: MailServerProcess, dovecot: TestDovecot, of: readonly string[]): Promise<number> {
  const waiting = new Set(of);
  await waitUntil(
    `all ${of.length} accounts are watching`,
    async () => {
      const states = await Promise.all([...waiting].map(async (user) => [user, await server.state(user)] as const));
      for (const [user, state] of states) if (state === 'watching') waiting.delete(user);
      return waiting.size === 0;
    },
    () => describe(server, dovecot),
  );
  return Date.now() - server.startedAt;
}

async function describe(server: MailServerProcess, dovecot: TestDovecot): Promise<string> {
  const states = Object.fromEntries(await server.states(users));
  return `States: ${JSON.stringify(states)}. Dovecot sessions: ${dovecotSessions(dovecot.port)}.\nMail server log: ${server.log.slice(-2_000)}\nDovecot log: ${dovecot.log().slice(-2_000)}`;
}

async function deliverOneEach(dovecot: TestDovecot, to: readonly string[]): Promise<void> {
  const queue = [...to];
  const worker = async (): Promise<void> => {
    for (let user = queue.shift(); user !== undefined; user = queue.shift()) {
      await dovecot.deliver(user, `From: Carol <carol@elsewhere.example>\r\nTo: ${user}\r\nSubject: Hello ${user}\r\nMessage-ID: <${user.replace(/\W/g, '')}.${Date.now()}@elsewhere.example>\r\n\r\nA short note for ${user}.\r\n`);
    }
  };
  await Promise.all(Array.from({ length: DELIVERY_CONCURRENCY }, worker));
}

interface Readings {
  baseline: ChildMemory;
  watching: ChildMemory;
  afterMail: ChildMemory;
  /**
   * Dovecot's IMAP sessions once the mails are announced: each announcement is read over the account's pooled tool
   * connection, which then stays open (idle) next to the watcher's until the pool closes it.
   */
  sessionsAfterMail: number;
  /** Once the service with the accounts has stopped: what it leaves behind. */
  stopped: ChildMemory;
  toWatchingMs: number;
  /** Watcher connections made again with all accounts: 0 when every one got through the first time. */
  reconnects: number;
  toAnnouncedMs: number;
  cap: { watching: number; connecting: number; retrying: number; maxSessions: number };
}

/** Runs `body` with a list of cleanups that are run, last first, whether it succeeds, throws or is interrupted. */
async function withCleanups<T>(body: (defer: (cleanup: () => Promise<void> | void) => void) => Promise<T>): Promise<T> {
  const cleanups: Array<() => Promise<void> | void> = [];
  // One pass, whoever asks first: an interruption kills the mail server, so the body then fails too, and its own
  // `finally` must wait for the cleanups under way rather than end the process in the middle of them.
  let cleaning: Promise<void> | undefined;
  const runAll = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const cleanup of cleanups.splice(0).reverse()) {
        try {
          await cleanup();
        } catch (error) {
          process.stderr.write(`cleanup failed: ${String(error)}\n`);
        }
      }
    })());
  // Ctrl-C would otherwise leave Dovecot's processes and the temp dirs behind.
  const interrupted = (signal: NodeJS.Signals): void => {
    void runAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    return await body((cleanup) => cleanups.push(cleanup));
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await runAll();
  }
}

async function measure(): Promise<Readings> {
  return withCleanups(async (defer) => {
    const dovecot = await TestDovecot.start({ users: Object.fromEntries([...warmUsers, ...users].map((user) => [user, passwordOf(user)])) });
    defer(() => dovecot.close());
    const webhook = new WebhookReceiver(SECRET);
    await webhook.listen();
    defer(() => webhook.close());
    const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-bench-imap-'));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const server = new MailServerProcess();
    defer(() => server.close());
    const run = async <T>(name: string, accounts: readonly string[], maxConnections: number | undefined, body: () => Promise<T>): Promise<T> => {
      await server.start(mailConfig(join(dir, name), webhook.port, dovecot, accounts, maxConnections));
      let result: T;
      try {
        result = await body();
      } catch (error) {
        // Killed, not stopped: a service stopped while its watchers still connect does not finish closing (a watcher
        // aborted mid-connect then waits for the abort it missed, src/mail/imap/new-mail-watcher.ts).
        await server.close();
        throw error;
      }
      await server.stop();
      // The next part counts Dovecot's sessions: this service's must be gone from it first.
      await waitUntil("Dovecot has dropped the stopped service's sessions", () => dovecotSessions(dovecot.port) === 0, () => dovecot.log().slice(-2_000));
      return result;
    };

    /** Once all of `of` watch, one mail to each, announced once each; resolves with how long that took. */
    const mailEach = async (of: readonly string[]): Promise<number> => {
      webhook.accepted.splice(0);
      const delivering = Date.now();
      await deliverOneEach(dovecot, of);
      await waitUntil(`all ${of.length} mails are announced`, async () => webhook.accepted.length >= of.length && (await server.pendingAnnouncements()) === 0, () => describe(server, dovecot));
      const took = Date.now() - delivering;
      const announced = webhook.accepted.map((a) => a.user_email).sort();
      if (JSON.stringify(announced) !== JSON.stringify([...of].sort())) throw new Error(`expected one announcement per account, got ${announced.length}: ${announced.join(', ')}`);
      const after = await server.states(of);
      if (after.get('watching') !== of.length) throw new Error(`after the mails, not all are watching: ${JSON.stringify(Object.fromEntries(after))}`);
      return took;
    };

    await run('warm-up', warmUsers, undefined, async () => {
      await allWatching(server, dovecot, warmUsers);
      await mailEach(warmUsers);
    });

    const baseline = await run('baseline', [], undefined, () => server.memory());

    const { watching, afterMail, sessionsAfterMail, toWatchingMs, toAnnouncedMs, reconnects } = await run('watching', users, undefined, async () => {
      const toWatchingMs = await allWatching(server, dovecot, users);
      const watching = await server.memory();
      const toAnnouncedMs = await mailEach(users);
      const afterMail = await server.memory();
      return { watching, afterMail, sessionsAfterMail: dovecotSessions(dovecot.port), toWatchingMs, toAnnouncedMs, reconnects: server.reconnects };
    });
    const stopped = await server.memory();

    const cap = await run('capped', users, CAP, async () => {
      let maxSessions = 0;
      const sample = setInterval(() => (maxSessions = Math.max(maxSessions, dovecotSessions(dovecot.port))), 100);
      try {
        await waitUntil(`${WATCHERS_UNDER_CAP} accounts are watching`, async () => ((await server.states(users)).get('watching') ?? 0) >= WATCHERS_UNDER_CAP, () => describe(server, dovecot), 100);
        await sleep(CAP_HOLD_MS);
        const states = await server.states(users);
        maxSessions = Math.max(maxSessions, dovecotSessions(dovecot.port));
        return { watching: states.get('watching') ?? 0, connecting: states.get('connecting') ?? 0, retrying: states.get('retrying') ?? 0, maxSessions };
      } finally {
        clearInterval(sample);
      }
    });
    return { baseline, watching, afterMail, sessionsAfterMail, stopped, toWatchingMs, toAnnouncedMs, reconnects, cap };
  });
}

function dovecotVersion(): string {
  return spawnSync(DOVECOT, ['--version'], { encoding: 'utf8' }).stdout.trim().split(' ')[0] ?? '?';
}

/** The report section; a note instead where Dovecot is not installed, so that `npm run bench` still runs there. */
export async function imapAccountCost(): Promise<string[]> {
  const title = '### IMAP accounts: memory per watched account (mail server in its own process)';
  if (!existsSync(DOVECOT)) return [title, '', `Skipped: no Dovecot at ${DOVECOT} (apt install dovecot-imapd dovecot-lmtpd dovecot-submissiond).`, ''];
  const r = await measure();
  const row = (name: string, m: ChildMemory) => `| ${name} | ${mib(m.rss)} | ${mib(m.heapTotal)} | ${mib(m.heapUsed)} | ${mib(m.external)} |`;
  const per = (name: string, m: ChildMemory) =>
    `| per account: (${name} − baseline) / ${ACCOUNTS} | ${kib((m.rss - r.baseline.rss) / ACCOUNTS)} KiB | ${kib((m.heapTotal - r.baseline.heapTotal) / ACCOUNTS)} KiB | ${kib((m.heapUsed - r.baseline.heapUsed) / ACCOUNTS)} KiB | ${kib((m.external - r.baseline.external) / ACCOUNTS)} KiB |`;
  // The rest may also be `retrying` (a connection that failed gave its slot back and waits out its backoff): neither holds a connection.
  const capHeld = r.cap.watching === WATCHERS_UNDER_CAP && r.cap.maxSessions <= CAP;
  if (!capHeld) process.exitCode = 1;
  return [
    title,
    '',
    `${ACCOUNTS} accounts on one private Dovecot ${dovecotVersion()}, one IDLE connection each (plain IMAP over loopback). The services below ran one after another in one process (\`--max-semi-space-size=1\`); readings after two forced full GCs (\`--expose-gc\`), RSS the least over the 500 ms after them.`,
    '',
    '| mail server | RSS (MiB) | heap total (MiB) | heap used (MiB) | external (MiB) |',
    '|---|---|---|---|---|',
    row('0 accounts (baseline)', r.baseline),
    row(`${ACCOUNTS} accounts, all watching`, r.watching),
    row(`… after one mail each, all ${ACCOUNTS} announced`, r.afterMail),
    row(`no service (the ${ACCOUNTS}-account one stopped)`, r.stopped),
    per('watching', r.watching),
    per('after the mails', r.afterMail),
    '',
    `All ${ACCOUNTS} watching ${r.toWatchingMs} ms after \`startMailService\` was called; ${ACCOUNTS} mails delivered over LMTP (${DELIVERY_CONCURRENCY} at once) and all announced ${r.toAnnouncedMs} ms after the first delivery began; Dovecot then had ${r.sessionsAfterMail} IMAP sessions open (each account's watcher, and the pooled connection its mail was read over, kept while idle). Watcher connections failed and made again: ${r.reconnects}.`,
    '',
    `Cap: \`imap_max_connections = ${CAP}\` with ${ACCOUNTS} accounts: ${r.cap.watching} watching, ${r.cap.connecting} connecting (waiting for a connection slot), ${r.cap.retrying} retrying, ${CAP_HOLD_MS} ms after the ${WATCHERS_UNDER_CAP}th was watching (the watchers' share: ${CAP} less a tenth kept for tool calls); Dovecot's established IMAP sessions (\`ss\`, sampled every 100 ms) never above ${r.cap.maxSessions}. ${capHeld ? 'The cap held.' : '**The cap did not hold.**'}`,
    '',
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const lines = await imapAccountCost();
  process.stdout.write(`Command: \`npm run bench:imap-accounts\` (${IMAP_BENCH_KNOBS}) on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}.\n\n${lines.join('\n')}\n`);
}
