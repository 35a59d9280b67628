import { randomBytes, randomUUID } from 'node:crypto';
import { StorageFault, StorageWriteError } from '../errors.js';
import { settleWithin } from '../settle-within.js';
import type { Db } from './database.js';
import type { WriteOutcomes } from './storage-health.js';
import { storageWriteError } from './storage-fault.js';

/**
 * Random hex, twice SQLite's default page: the probe's row needs new pages, as a turn's messages may, so a database
 * that can only rewrite pages it has is not taken for a healthy one. Random so that Postgres cannot compress it away.
 */
const PROBE_PADDING_BYTES = 4_096;
/** A probe that takes longer counts as refused: `/health` must not report a hung database as fine. */
const PROBE_TIMEOUT_MS = 2_000;

export interface WriteProbeOptions {
  db: Db;
  outcomes: WriteOutcomes;
  intervalMs: number;
}

/**
 * Every `intervalMs`, writes a row to `health_probe` and deletes it in the same transaction, and tells `outcomes`
 * how it went: a database that reads fine but cannot write (full disk, read-only) shows in `/health` even when no
 * conversation is writing. One probe at a time; a hung one is not joined by more.
 */
export class WriteProbe {
  private readonly timer: NodeJS.Timeout;
  private inFlight: Promise<unknown> | undefined;
  private closed = false;

  constructor(private readonly options: WriteProbeOptions) {
    this.timer = setInterval(() => void this.probe(), options.intervalMs);
    this.timer.unref();
  }

  /** Runs one probe now (unless one is still in flight); resolves once its outcome is told. */
  async probe(): Promise<void> {
    if (this.inFlight || this.closed) return;
    const id = randomUUID();
    const write = this.options.db.transaction().execute(async (trx) => {
      await trx.insertInto('health_probe').values({ id, at: new Date().toISOString(), padding: randomBytes(PROBE_PADDING_BYTES).toString('hex') }).execute();
      await trx.deleteFrom('health_probe').where('id', '=', id).execute();
    });
    const settled = write.then(
      () => undefined,
      (error: unknown) => error,
    );
    this.inFlight = settled.finally(() => (this.inFlight = undefined));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), PROBE_TIMEOUT_MS)));
    const outcome = await Promise.race([settled, timedOut]).finally(() => clearTimeout(timer));
    if (this.closed) return;
    if (outcome === undefined) return this.options.outcomes.written();
    if (outcome === 'timeout') {
      return this.options.outcomes.refused(new StorageWriteError(StorageFault.Unreachable, `database unreachable: a probe write got no answer within ${PROBE_TIMEOUT_MS} ms`));
    }
    const refused = storageWriteError(outcome, 'a probe write was refused');
    if (refused.passes) this.options.outcomes.refused(refused);
  }

  /** Stops probing and waits (a bounded time) for a probe in flight. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    if (this.inFlight) await settleWithin(this.inFlight, PROBE_TIMEOUT_MS);
  }
}
