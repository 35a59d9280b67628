import { join } from 'node:path';
import type { TestCertificates } from './test-certificates.js';

export interface DovecotPorts {
  imap: number;
  lmtp: number;
  submission: number;
  /** Implicit TLS (`imaps://`, `smtps://`); only when serving TLS. */
  imaps?: number;
  submissions?: number;
}

export interface DovecotConfigInput {
  dir: string;
  mailRoot: string;
  ports: DovecotPorts;
  relay: { host: string; port: number };
  owner: { uid: number; gid: number };
  /** Serve TLS with these: STARTTLS on the plain ports, implicit TLS on `imaps` and `submissions`. */
  tls?: TestCertificates;
  withoutIdle?: boolean;
  /** A global ACL file (`vfile`), when some users' INBOX is hidden from them. */
  aclFile?: string;
}

/**
 * Dovecot 2.3's own capabilities after login, less IDLE: `imap_capability` replaces the list (or, with `+`, adds to
 * it); it cannot take one away.
 */
const CAPABILITIES_WITHOUT_IDLE =
  'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY';

function tlsLines(tls: TestCertificates | undefined): string[] {
  if (!tls) return ['ssl = no'];
  // `yes`, not `required`: the plain ports offer STARTTLS, and a client that does not take it may still log in (loopback).
  return ['ssl = yes', `ssl_cert = <${tls.certFile}`, `ssl_key = <${tls.keyFile}`];
}

function listener(name: string, port: number | undefined, ssl = false): string {
  // Port 0 turns a listener of Dovecot's defaults (imaps on 993) off: a test instance never takes a well-known port.
  return `  inet_listener ${name} {\n    port = ${port ?? 0}\n${ssl ? '    ssl = yes\n' : ''}  }`;
}

/** The `dovecot.conf` of a private test instance. */
export function dovecotConfig(input: DovecotConfigInput): string {
  const { dir, mailRoot, ports, relay, owner } = input;
  return [
    `base_dir = ${join(dir, 'run')}`,
    `state_dir = ${join(dir, 'state')}`,
    `log_path = ${join(dir, 'dovecot.log')}`,
    'protocols = imap lmtp submission',
    'listen = 127.0.0.1',
    // Submission's name in its greeting and replies; the machine's own may not resolve.
    'hostname = localhost',
    ...tlsLines(input.tls),
    'disable_plaintext_auth = no',
    // IDLE learns of new mail through inotify, and a machine has 128 inotify instances per user: with the whole suite
    // (and the 100-account bench) holding IDLE sessions, Dovecot falls back to polling, every 30 s by default.
    'mailbox_idle_check_interval = 1 secs',
    ...(input.withoutIdle ? [`imap_capability = ${CAPABILITIES_WITHOUT_IDLE}`] : []),
    'auth_mechanisms = plain login',
    `mail_location = maildir:${mailRoot}/%u`,
    ...(input.aclFile ? ['mail_plugins = $mail_plugins acl', 'plugin {', `  acl = vfile:${input.aclFile}`, '}'] : []),
    'namespace inbox {',
    '  inbox = yes',
    '  separator = .',
    '}',
    'passdb {',
    '  driver = passwd-file',
    `  args = scheme=PLAIN username_format=%u ${join(dir, 'passwd')}`,
    '}',
    // Static, so LMTP asks the passdb whether a recipient exists: an unknown one is refused at RCPT TO.
    'userdb {',
    '  driver = static',
    `  args = uid=${owner.uid} gid=${owner.gid} home=${join(dir, 'home')}/%u`,
    '}',
    `submission_relay_host = ${relay.host}`,
    `submission_relay_port = ${relay.port}`,
    'submission_relay_ssl = no',
    // Each connection is logged in by a login process of its own (high-security mode), at most default_process_limit
    // (100) at once (imap sessions themselves may be 1024): exactly the 100 accounts of bench/imap-accounts.ts
    // connecting together, and of 300 at once a quarter were reset. 512 stays within auth's and anvil's default
    // client_limit (1000), which Dovecot otherwise warns of at start.
    'service imap-login {',
    '  process_limit = 512',
    listener('imap', ports.imap),
    listener('imaps', ports.imaps, true),
    '}',
    'service lmtp {',
    `  inet_listener lmtp {\n    address = 127.0.0.1\n    port = ${ports.lmtp}\n  }`,
    '}',
    'service submission-login {',
    listener('submission', ports.submission),
    ...(ports.submissions ? [listener('submissions', ports.submissions, true)] : []),
    '}',
    'service stats {',
    '  unix_listener stats-writer {\n    mode = 0666\n  }',
    '}',
    '',
  ].join('\n');
}
