/**
 * `npm start` and `npm test` run this first (`prestart`, `pretest`): the system programs they need, installed where
 * they are missing. On Debian (and its derivatives) that is `apt-get install`, through `sudo` when not root; elsewhere
 * it prints exactly what to install. `npx tsx scripts/system-packages.ts start|test`.
 * - start: `redis-server` (the runtime runs its own from `redis.conf`). Missing and not installable is a warning: the
 *   runtime still starts, without email summaries, and says so.
 * - test: `redis-server`, Debian's `chromium` (the browser tests drive it through playwright-core, never a downloaded
 *   browser), Dovecot with IMAP, LMTP and submission (the IMAP tests run a private instance), `openssl` (the TLS tests
 *   make their certificates). Missing and not installable fails the run, before any test, with what to install.
 * `AI_RUNTIME_SYSTEM_PACKAGES=skip` leaves the system alone (the tests then say what is missing when they need it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

interface Requirement {
  /** What it is for, in the message when it is missing. */
  purpose: string;
  /** Present on this machine. */
  present(): boolean;
  /** Debian's packages that provide it. */
  debian: readonly string[];
  /** What to install elsewhere. */
  elsewhere: string;
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

const REDIS: Requirement = {
  purpose: 'Redis, for email summaries (npm start runs its own from redis.conf)',
  present: () => onPath('redis-server'),
  debian: ['redis-server'],
  elsewhere: 'Redis ≥ 6.2 with redis-server on the PATH (macOS: brew install redis)',
};

const FOR_TESTS: readonly Requirement[] = [
  REDIS,
  {
    purpose: 'Chromium, for the browser tests',
    present: () => existsSync('/usr/bin/chromium'),
    debian: ['chromium'],
    elsewhere: 'Chromium at /usr/bin/chromium',
  },
  {
    purpose: 'Dovecot with IMAP, LMTP and submission, for the IMAP tests',
    present: () => ['/usr/sbin/dovecot', '/usr/lib/dovecot/imap', '/usr/lib/dovecot/lmtp', '/usr/lib/dovecot/submission'].every((path) => existsSync(path)),
    debian: ['dovecot-imapd', 'dovecot-lmtpd', 'dovecot-submissiond'],
    elsewhere: 'Dovecot 2.3 with its imap, lmtp and submission services, installed as /usr/sbin/dovecot',
  },
  {
    purpose: 'openssl, for the TLS tests’ certificates',
    present: () => onPath('openssl'),
    debian: ['openssl'],
    elsewhere: 'the openssl command-line tool',
  },
];

const isDebian = () => existsSync('/etc/debian_version') && onPath('apt-get');

function run(command: readonly string[]): boolean {
  const asRoot = process.getuid?.() === 0;
  const argv = asRoot ? command : ['sudo', ...command];
  process.stderr.write(`system-packages: ${argv.join(' ')}\n`);
  return spawnSync(argv[0]!, argv.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
}

/** Installs what is missing; returns the requirements still missing after that. */
function ensure(requirements: readonly Requirement[]): Requirement[] {
  const missing = requirements.filter((r) => !r.present());
  if (missing.length === 0 || process.env.AI_RUNTIME_SYSTEM_PACKAGES === 'skip') return missing;
  if (isDebian()) {
    const packages = [...new Set(missing.flatMap((r) => r.debian))];
    // A fresh machine has no package lists yet.
    if (run(['apt-get', 'update', '-qq'])) run(['apt-get', 'install', '-y', '-qq', ...packages]);
  }
  return missing.filter((r) => !r.present());
}

function describe(missing: readonly Requirement[]): string {
  const lines = missing.map((r) => `  - ${r.purpose}: ${isDebian() ? `sudo apt-get install ${r.debian.join(' ')}` : r.elsewhere}`);
  return `${lines.join('\n')}\n(AI_RUNTIME_SYSTEM_PACKAGES=skip leaves the system alone.)\n`;
}

const purpose = process.argv[2];
if (purpose === 'start') {
  const missing = ensure([REDIS]);
  if (missing.length > 0) process.stderr.write(`system-packages: starting without:\n${describe(missing)}`);
} else if (purpose === 'test') {
  const missing = ensure(FOR_TESTS);
  if (missing.length > 0 && process.env.AI_RUNTIME_SYSTEM_PACKAGES !== 'skip') {
    process.stderr.write(`system-packages: the tests need these, and they could not be installed:\n${describe(missing)}`);
    process.exit(1);
  }
} else {
  process.stderr.write('usage: npx tsx scripts/system-packages.ts start|test\n');
  process.exit(2);
}
