import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './embedded-config.js';

export interface TestDovecotOptions {
  /** `address: password` of the users it knows. */
  users: Record<string, string>;
  /** Where each user's Maildir is: `<mailRoot>/<address>`, the bundled mail server's own layout. Default: a temp dir. */
  mailRoot?: string;
}

/** Debian's Dovecot (`dovecot-imapd`): a private instance for a test, never the machine's own. */
const DOVECOT = '/usr/sbin/dovecot';

/**
 * A private Dovecot on a free loopback port, in a temp dir, with a passwd-file of test users and plaintext login
 * (loopback only): the IMAP server the tests talk to. `close()` stops it and removes its files.
 */
function nobody(): { uid: number; gid: number } {
  const [uid, gid] = ['-u', '-g'].map((flag) => Number(spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' }).stdout.trim()));
  return { uid: uid ?? 65534, gid: gid ?? 65534 };
}

export class TestDovecot {
  private constructor(
    readonly port: number,
    readonly mailRoot: string,
    private readonly dir: string,
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  static async start(options: TestDovecotOptions): Promise<TestDovecot> {
    if (!existsSync(DOVECOT)) {
      throw new Error('Dovecot is not installed: sudo apt install dovecot-imapd dovecot-lmtpd dovecot-submissiond (.ci/run installs them).');
    }
    const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-dovecot-'));
    const mailRoot = options.mailRoot ?? join(dir, 'mail');
    mkdirSync(mailRoot, { recursive: true });
    const port = await freePort();
    writeFileSync(join(dir, 'passwd'), Object.entries(options.users).map(([user, password]) => `${user}:{PLAIN}${password}::::::\n`).join(''));
    // Dovecot's auth process runs as its own user: it must reach the passwd-file (test passwords only).
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'passwd'), 0o644);
    // Dovecot never serves mail as root: the mail is `nobody`'s, given to it here (the tests run as root).
    const { uid, gid } = nobody();
    spawnSync('chown', ['-R', `${uid}:${gid}`, mailRoot]);
    // …and it must get there: the temp dir holding the mail root is made passable (not readable) for it.
    chmodSync(dirname(mailRoot), 0o711);
    const config = join(dir, 'dovecot.conf');
    writeFileSync(
      config,
      [
        `base_dir = ${join(dir, 'run')}`,
        `state_dir = ${join(dir, 'state')}`,
        `log_path = ${join(dir, 'dovecot.log')}`,
        'protocols = imap',
        'listen = 127.0.0.1',
        'ssl = no',
        'disable_plaintext_auth = no',
        'auth_mechanisms = plain login',
        `mail_location = maildir:${mailRoot}/%u`,
        'namespace inbox {',
        '  inbox = yes',
        '  separator = .',
        '}',
        'passdb {',
        '  driver = passwd-file',
        `  args = scheme=PLAIN username_format=%u ${join(dir, 'passwd')}`,
        '}',
        'userdb {',
        '  driver = static',
        `  args = uid=${uid} gid=${gid} home=${join(dir, 'home')}/%u`,
        '}',
        'service imap-login {',
        '  inet_listener imap {',
        `    port = ${port}`,
        '  }',
        '  inet_listener imaps {',
        '    port = 0',
        '  }',
        '}',
        'service stats {',
        '  unix_listener stats-writer {',
        '    mode = 0666',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    // -F: in the foreground, as our child, so it goes when we stop it.
    const child = spawn(DOVECOT, ['-F', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += String(d)));
    child.stderr?.on('data', (d: Buffer) => (output += String(d)));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const dovecot = new TestDovecot(port, mailRoot, dir, child, exited);
    try {
      await dovecot.waitListening(() => output);
    } catch (error) {
      await dovecot.close();
      throw error;
    }
    return dovecot;
  }

  private async waitListening(output: () => string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`dovecot exited: ${output()}${this.log()}`);
      const probe = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${this.port} && head -c 4 <&3`], { timeout: 2_000, encoding: 'utf8' });
      if (probe.stdout.startsWith('* OK')) return;
      await sleep(50);
    }
    throw new Error(`dovecot did not listen on ${this.port}: ${output()}${this.log()}`);
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, 'dovecot.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops it (SIGTERM, then SIGKILL) and removes its files. Safe to call twice. */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const killed = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(killed);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
