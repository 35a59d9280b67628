import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTransport } from 'nodemailer';
import { stopWhenTestProcessDies } from './watchdog.js';
import { freePort } from './embedded-config.js';
import { dovecotConfig, type DovecotPorts } from './dovecot-config.js';
import { SmtpSink, type SunkMessage } from './smtp-sink.js';
import { makeTestCertificates, type TestCertificates } from './test-certificates.js';

export interface TestDovecotOptions {
  /** `address: password` of the users it knows. */
  users: Record<string, string>;
  /** Where each user's Maildir is: `<mailRoot>/<address>`, the bundled mail server's own layout. Default: a temp dir. */
  mailRoot?: string;
  /** Where submission relays to. Default: an SMTP sink of its own, read with `relayed()`. */
  relayTo?: { host: string; port: number };
  /**
   * Serve TLS too, with a certificate for 127.0.0.1 signed by a CA made for this instance (`caFile`): STARTTLS on
   * `port` and `submissionPort`, TLS from the first byte on `imapsPort` and `submissionsPort`. @default false
   */
  tls?: boolean;
  /** Leave IDLE out of the IMAP capabilities, as some servers do: a client must poll. @default false */
  withoutIdle?: boolean;
  /** Users whose INBOX an ACL hides from them (no lookup right): its SELECT is answered `NO Mailbox doesn't exist`. @default [] */
  hiddenInbox?: string[];
}

export type RelayedMessage = SunkMessage;

/** Debian's Dovecot (`dovecot-imapd`, `-lmtpd`, `-submissiond`): a private instance for a test, never the machine's own. */
const DOVECOT = '/usr/sbin/dovecot';

/** Dovecot never serves mail as root: the mail is `nobody`'s (the tests run as root). */
function nobody(): { uid: number; gid: number } {
  const [uid, gid] = ['-u', '-g'].map((flag) => Number(spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' }).stdout.trim()));
  return { uid: uid ?? 65534, gid: gid ?? 65534 };
}

/** Distinct ones: two `freePort()` calls in a row may get the same port back, as each is released at once. */
async function freePorts(tls: boolean): Promise<DovecotPorts> {
  const ports = new Set<number>();
  while (ports.size < (tls ? 5 : 3)) ports.add(await freePort());
  const [imap, lmtp, submission, imaps, submissions] = [...ports] as [number, number, number, number?, number?];
  return { imap, lmtp, submission, ...(tls ? { imaps, submissions } : {}) };
}

/** The first thing a server says on `port`, or '' if it does not answer (yet). */
function greeting(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (text: string) => {
      socket.destroy();
      resolve(text);
    };
    socket.setTimeout(2_000, () => done(''));
    socket.once('data', (data: Buffer) => done(String(data)));
    socket.once('error', () => done(''));
  });
}

/** Its own sink unless the test names a relay: submission reaches it as soon as a client logs in, so it is up first. */
async function relayFor(relayTo: TestDovecotOptions['relayTo']): Promise<{ sink?: SmtpSink; relay: { host: string; port: number } }> {
  if (relayTo) return { relay: relayTo };
  const sink = await SmtpSink.start();
  return { sink, relay: { host: '127.0.0.1', port: sink.port } };
}

function writeUsers(dir: string, users: Record<string, string>): void {
  const path = join(dir, 'passwd');
  writeFileSync(path, Object.entries(users).map(([user, password]) => `${user}:{PLAIN}${password}::::::\n`).join(''));
  // Dovecot's auth process runs as its own user: it must reach the passwd-file (test passwords only).
  chmodSync(dir, 0o755);
  chmodSync(path, 0o644);
}

/** Dovecot's global ACL file: for each user listed, INBOX without the lookup right, so it seems not to exist. */
function writeHiddenInboxes(dir: string, users: string[]): string | undefined {
  if (users.length === 0) return undefined;
  const path = join(dir, 'dovecot-acl');
  // A user= entry takes precedence over `owner` (who otherwise has every right on their own mailboxes).
  writeFileSync(path, users.map((user) => `INBOX user=${user} \n`).join(''));
  chmodSync(path, 0o644);
  return path;
}

function giveMailToNobody(mailRoot: string): { uid: number; gid: number } {
  const owner = nobody();
  spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, mailRoot]);
  // …and it must get there: the temp dir holding the mail root is made passable (not readable) for it.
  chmodSync(dirname(mailRoot), 0o711);
  return owner;
}

/**
 * A private Dovecot on free loopback ports, in a temp dir, with a passwd-file of test users and plaintext login
 * (loopback only): a whole mail provider for the tests. IMAP on `port`, LMTP delivery on `lmtpPort` (`deliver()`),
 * authenticated submission on `submissionPort`, relayed to `relayTo` or to a sink of its own (`relayed()`); with
 * `tls`, the same over TLS as a real provider serves it.
 * `stop()`/`restart()` take it away and bring it back on the same ports with the same mail; `close()` removes it all.
 */
export class TestDovecot {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private output = '';

  private constructor(
    private readonly ports: DovecotPorts,
    readonly mailRoot: string,
    private readonly dir: string,
    private readonly sink: SmtpSink | undefined,
    private readonly certificates: TestCertificates | undefined,
  ) {}

  static async start(options: TestDovecotOptions): Promise<TestDovecot> {
    if (!existsSync(DOVECOT)) {
      throw new Error('Dovecot is not installed: sudo apt install dovecot-imapd dovecot-lmtpd dovecot-submissiond (.ci/run installs them).');
    }
    const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-dovecot-'));
    const mailRoot = options.mailRoot ?? join(dir, 'mail');
    mkdirSync(mailRoot, { recursive: true });
    writeUsers(dir, options.users);
    const owner = giveMailToNobody(mailRoot);
    const aclFile = writeHiddenInboxes(dir, options.hiddenInbox ?? []);
    let tls: TestCertificates | undefined;
    try {
      tls = options.tls ? makeTestCertificates(dir) : undefined;
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    const { sink, relay } = await relayFor(options.relayTo);
    const dovecot = new TestDovecot(await freePorts(options.tls ?? false), mailRoot, dir, sink, tls);
    try {
      const withoutIdle = options.withoutIdle ?? false;
      writeFileSync(dovecot.configPath, dovecotConfig({ dir, mailRoot, ports: dovecot.ports, relay, owner, withoutIdle, ...(tls ? { tls } : {}), ...(aclFile ? { aclFile } : {}) }));
      await dovecot.restart();
    } catch (error) {
      await dovecot.close();
      throw error;
    }
    return dovecot;
  }

  get port(): number {
    return this.ports.imap;
  }

  /** The Dovecot master's pid while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Started and not stopped since. */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get lmtpPort(): number {
    return this.ports.lmtp;
  }

  get submissionPort(): number {
    return this.ports.submission;
  }

  /** IMAP with TLS from the first byte (`imaps://`); only with `tls`. */
  get imapsPort(): number {
    return this.tlsOnly(this.ports.imaps);
  }

  /** Submission with TLS from the first byte (`smtps://`); only with `tls`. */
  get submissionsPort(): number {
    return this.tlsOnly(this.ports.submissions);
  }

  /** The PEM file of the CA that signed its certificate, for a client to trust; only with `tls`. */
  get caFile(): string {
    if (!this.certificates) throw new Error('This Dovecot was started without `tls`.');
    return this.certificates.caFile;
  }

  private get configPath(): string {
    return join(this.dir, 'dovecot.conf');
  }

  /** Delivers `raw` to `to`'s INBOX over LMTP, as an MTA would; rejects if Dovecot refuses it. */
  async deliver(to: string, raw: Buffer | string, from = 'sender@localhost'): Promise<void> {
    const transport = createTransport({ host: '127.0.0.1', port: this.ports.lmtp, lmtp: true, ignoreTLS: true });
    try {
      // LMTP answers per recipient after DATA: a refusal there resolves, with the recipient listed as rejected.
      const info = await transport.sendMail({ envelope: { from, to }, raw });
      if (info.rejected.length > 0) throw new Error(`LMTP refused ${to}: ${info.response}\n${this.log()}`);
    } finally {
      transport.close();
    }
  }

  /** What submission relayed to the sink so far. */
  relayed(): RelayedMessage[] {
    return this.ownSink().received();
  }

  /** Resolves with the relayed messages once there are `count`: the relay happens while the client is answered. */
  waitForRelayed(count: number, timeoutMs = 5_000): Promise<RelayedMessage[]> {
    return this.ownSink().waitFor(count, timeoutMs);
  }

  /** Starts it (again, if it was stopped) on the same ports with the same mail, and waits until every listener greets. */
  async restart(): Promise<void> {
    await this.stop();
    this.output = '';
    // -F: in the foreground, as our child, so it goes when we stop it.
    const child = spawn(DOVECOT, ['-F', '-c', this.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (this.output += String(d)));
    child.stderr.on('data', (d: Buffer) => (this.output += String(d)));
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.child = child;
    if (child.pid !== undefined) stopWhenTestProcessDies(child.pid);
    await this.waitListening();
  }

  /** Stops it (SIGTERM, then SIGKILL) and keeps its files and mail for `restart()`. Safe to call when stopped. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(killed);
    }
    this.child = undefined;
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, 'dovecot.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops it and the sink and removes its files. Safe to call twice, and after `stop()`. */
  async close(): Promise<void> {
    await this.stop();
    await this.sink?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private tlsOnly(port: number | undefined): number {
    if (port === undefined) throw new Error('This Dovecot was started without `tls`.');
    return port;
  }

  private ownSink(): SmtpSink {
    if (!this.sink) throw new Error('This Dovecot relays to `relayTo`, not to a sink of its own.');
    return this.sink;
  }

  private async waitListening(): Promise<void> {
    // The TLS listeners are not asked: the master binds every listener before it starts any service, so once these
    // greet, those are bound too.
    const expected: Array<[number, string]> = [[this.ports.imap, '* OK'], [this.ports.lmtp, '220'], [this.ports.submission, '220']];
    const deadline = Date.now() + 15_000;
    for (const [port, prefix] of expected) {
      while (!(await greeting(port)).startsWith(prefix)) {
        if (this.child?.exitCode !== null) throw new Error(`dovecot exited: ${this.output}${this.log()}`);
        if (Date.now() > deadline) throw new Error(`dovecot did not greet on ${port}: ${this.output}${this.log()}`);
        await sleep(50);
      }
    }
  }
}
