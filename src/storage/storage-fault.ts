import { StorageFault, StorageWriteError, errorMessage } from '../errors.js';

/**
 * SQLite's result codes as better-sqlite3 gives them in `code`: the primary code, or an extended one that starts with
 * it (`SQLITE_IOERR_WRITE`, `SQLITE_READONLY_DBMOVED`, `SQLITE_BUSY_SNAPSHOT`).
 */
const SQLITE_FAULTS: ReadonlyArray<readonly [prefix: string, fault: StorageFault]> = [
  ['SQLITE_FULL', StorageFault.DiskFull],
  ['SQLITE_IOERR', StorageFault.IoError],
  // The WAL or journal file could not be created next to the database: the folder is full, gone or not writable.
  ['SQLITE_CANTOPEN', StorageFault.IoError],
  ['SQLITE_READONLY', StorageFault.ReadOnly],
  ['SQLITE_BUSY', StorageFault.Busy],
];

/** Postgres SQLSTATEs (`pg` puts them in `code`). */
const POSTGRES_FAULTS: Readonly<Record<string, StorageFault>> = {
  '53100': StorageFault.DiskFull, // disk_full
  '25006': StorageFault.ReadOnly, // read_only_sql_transaction: a standby, or default_transaction_read_only
  '58030': StorageFault.IoError, // io_error
  '58000': StorageFault.IoError, // system_error
  '53000': StorageFault.Busy, // insufficient_resources
  '53200': StorageFault.Busy, // out_of_memory
  '53300': StorageFault.Busy, // too_many_connections
  '40001': StorageFault.Busy, // serialization_failure
  '40P01': StorageFault.Busy, // deadlock_detected
  '57P01': StorageFault.Unreachable, // admin_shutdown
  '57P02': StorageFault.Unreachable, // crash_shutdown
  '57P03': StorageFault.Unreachable, // cannot_connect_now
};

/** The socket to Postgres failed (Node's codes), or `pg` lost it (it gives those errors no code). */
const NETWORK_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);
const PG_CONNECTION_LOST = /^Connection terminated/;

/** What a user reads first in the error: the cause, in words. */
const FAULT_WORDS: Readonly<Record<StorageFault, string>> = {
  [StorageFault.DiskFull]: 'disk full',
  [StorageFault.ReadOnly]: 'database is read-only',
  [StorageFault.IoError]: 'disk I/O error',
  [StorageFault.Busy]: 'database busy',
  [StorageFault.Unreachable]: 'database unreachable',
  [StorageFault.Other]: 'database error',
};

/** Why the database refused a write, read off the driver's error (SQLite or Postgres). */
export function storageFault(error: unknown): StorageFault {
  if (error instanceof StorageWriteError) return error.fault;
  const code = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : '';
  if (code.startsWith('SQLITE_')) return SQLITE_FAULTS.find(([prefix]) => code === prefix || code.startsWith(`${prefix}_`))?.[1] ?? StorageFault.Other;
  const postgres = POSTGRES_FAULTS[code];
  if (postgres) return postgres;
  // Class 08: connection exceptions.
  if (/^08[0-9A-Z]{3}$/.test(code) || NETWORK_CODES.has(code)) return StorageFault.Unreachable;
  if (code === '' && error instanceof Error && PG_CONNECTION_LOST.test(error.message)) return StorageFault.Unreachable;
  return StorageFault.Other;
}

export function faultWords(fault: StorageFault): string {
  return FAULT_WORDS[fault];
}

/**
 * The error to throw for a refused write: `"<cause>: <what>"` ("disk full: the conversation could not be created"),
 * with the driver's error as `cause`. A cause without words of its own (a constraint, a bug) keeps the driver's message.
 */
export function storageWriteError(error: unknown, what: string): StorageWriteError {
  if (error instanceof StorageWriteError) return error;
  const fault = storageFault(error);
  const detail = fault === StorageFault.Other ? ` (${errorMessage(error)})` : '';
  return new StorageWriteError(fault, `${FAULT_WORDS[fault]}: ${what}${detail}`, { cause: error });
}
