import { hostname } from 'node:os';
import { InvalidEmailIdError } from './mail-errors.js';

/**
 * What an email id may look like when it comes from outside: the unique part of a Maildir file name as we and the
 * common servers (Dovecot's `,S=1234,W=1300`, Courier, mutt) write it. No `/`, no NUL, no leading dot, so an id can
 * never name a directory, a dotfile or anything outside its folder.
 */
export const EMAIL_ID_PATTERN = /^[A-Za-z0-9_=,-][A-Za-z0-9._=,-]{0,254}$/;

/** The Maildir "info" separator; `:2,` starts the flags. */
const INFO_SEPARATOR = ':';
const FLAGS_PREFIX = '2,';

export const MaildirFlag = { Draft: 'D', Flagged: 'F', Replied: 'R', Seen: 'S', Trashed: 'T' } as const;
export type MaildirFlag = (typeof MaildirFlag)[keyof typeof MaildirFlag];

export function assertEmailId(id: string): string {
  if (typeof id !== 'string' || !EMAIL_ID_PATTERN.test(id)) throw new InvalidEmailIdError(String(id));
  return id;
}

export interface MaildirName {
  /** The unique part, without the info: the email id. */
  id: string;
  /** Flag letters from `:2,<flags>`, de-duplicated and sorted; other software may write them in any order. */
  flags: string;
}

export function parseMaildirName(fileName: string): MaildirName {
  const colon = fileName.indexOf(INFO_SEPARATOR);
  if (colon === -1) return { id: fileName, flags: '' };
  const info = fileName.slice(colon + 1);
  return { id: fileName.slice(0, colon), flags: info.startsWith(FLAGS_PREFIX) ? normalizeFlags(info.slice(FLAGS_PREFIX.length)) : '' };
}

/** The spec asks for flags in ASCII order; lower-case letters are Dovecot keywords and are kept as they are. */
export function normalizeFlags(flags: string): string {
  return [...new Set(flags.replace(/[^A-Za-z]/g, ''))].sort().join('');
}

export function withFlags(id: string, flags: string): string {
  return `${id}${INFO_SEPARATOR}${FLAGS_PREFIX}${normalizeFlags(flags)}`;
}

export function addFlag(flags: string, flag: MaildirFlag): string {
  return normalizeFlags(flags + flag);
}

// Dots are fine in an id; everything else outside the id alphabet (the spec names `/` and `:`) is replaced so
// our own ids always pass assertEmailId.
const HOST = hostname().replace(/[^A-Za-z0-9.-]/g, '_').replace(/^\.+/, '') || 'localhost';
let counter = 0;

/**
 * A unique name in the Maildir spec's recommended form `<seconds>.M<microseconds>P<pid>Q<counter>.<host>`: unique
 * per host because the pid and the per-process counter separate every delivery made in the same microsecond.
 */
export function uniqueMaildirName(now: number = performance.timeOrigin + performance.now()): string {
  counter += 1;
  const seconds = Math.floor(now / 1000);
  const micros = Math.floor((now - seconds * 1000) * 1000);
  return `${seconds}.M${micros}P${process.pid}Q${counter}.${HOST}`;
}
