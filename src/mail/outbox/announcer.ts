import { errorMessage } from '../../errors.js';
import { retryDelayMs } from '../../retry-delay.js';
import type { Logger } from '../../logger.js';
import { WebhookResult, webhookPayloadFrom, type EmailWebhookPayload, type WebhookOutcome } from '../email-webhook.js';
import { EntryRead, type AnnouncementOutbox, type StoredCopyRef } from './announcement-outbox.js';

/** What the announcer needs of the webhook: one attempt, abandoned when `signal` aborts. */
export interface AnnouncementPoster {
  post(payload: EmailWebhookPayload, signal?: AbortSignal): Promise<WebhookOutcome>;
}

export interface AnnouncerOptions {
  outbox: AnnouncementOutbox;
  poster: AnnouncementPoster;
  /** The stored copy's bytes; `undefined` once it is no longer in the inbox (its announcement is then dropped). */
  readMessage: (address: string, emailId: string) => Promise<Buffer | undefined>;
  logger: Logger;
  /** Wait after the first failure; it doubles with each failure in a row, jittered. @default 1000 */
  minRetryDelayMs?: number;
  /** The longest wait between two tries. @default 60000 */
  maxRetryDelayMs?: number;
  /** Announcements in flight at once. @default 4 */
  concurrency?: number;
}

const DEFAULTS = { minRetryDelayMs: 1_000, maxRetryDelayMs: 60_000, concurrency: 4 } satisfies Partial<AnnouncerOptions>;

/** Entries with a retry time of their own kept in memory; past it, a failing entry is simply tried on every pass. */
const MAX_TRACKED_ENTRIES = 10_000;
/** A floor on the wait between passes, so that a bookkeeping slip can never turn the loop into a busy one. */
const MIN_IDLE_MS = 10;
/** With nothing due, the outbox is looked at again after this anyway: entries nobody woke us for (put back by hand) go too. */
const RESCAN_MS = 5 * 60_000;

export interface AnnouncerStatus {
  /** Announcements stored but not yet accepted by the runtime. */
  pending: number;
  /** The runtime is refusing or unreachable: tries are backing off. */
  retrying: boolean;
  last_error?: string;
}


/**
 * Drains the outbox: announces each entry to the runtime, and removes it once the runtime accepted it (2xx). Runs in
 * the background, forever, apart from any SMTP session; a refusing or absent runtime closes a gate that reopens after
 * an exponential backoff, so a long outage costs about one request per `maxRetryDelayMs`.
 */
export class Announcer {
  private readonly options: Required<AnnouncerOptions>;
  private readonly stopping = new AbortController();
  /** Entries failing while the runtime accepts others (a payload it chokes on): each waits on its own backoff. */
  private readonly backoff = new Map<string, { failures: number; dueAt: number; pass: number }>();
  private pass = 0;
  /** Rounds of tries in a row that the runtime did not accept; 0 while it accepts. */
  private streak = 0;
  /** No attempt before this time (ms since epoch). */
  private gateUntil = 0;
  private lastError: string | undefined;
  private pending = 0;
  private wakeRequested = false;
  private waker: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();
  private closed: Promise<void> | undefined;

  private constructor(options: AnnouncerOptions) {
    this.options = { ...DEFAULTS, ...options };
    const { minRetryDelayMs, maxRetryDelayMs, concurrency } = this.options;
    if (!(minRetryDelayMs > 0) || !(maxRetryDelayMs >= minRetryDelayMs)) throw new RangeError(`Announcer retry delays need 0 < min ≤ max, got ${minRetryDelayMs} and ${maxRetryDelayMs}.`);
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new RangeError(`Announcer concurrency must be a positive integer, got ${concurrency}.`);
  }

  /** Opens the outbox and starts announcing what an earlier run left in it. */
  static async start(options: AnnouncerOptions): Promise<Announcer> {
    const announcer = new Announcer(options);
    const { outbox, logger } = announcer.options;
    await outbox.open();
    announcer.pending = await outbox.count();
    if (announcer.pending > 0) logger.info({ pending: announcer.pending, outbox: outbox.dir }, 'Announcing mail stored earlier but not yet accepted by the runtime');
    announcer.loop = announcer.run().catch((error: unknown) => logger.error({ err: errorMessage(error) }, 'The announcer stopped unexpectedly'));
    return announcer;
  }

  /** Durable once it resolves (before the SMTP 250); the announcement itself follows in the background. */
  async record(copies: readonly StoredCopyRef[]): Promise<void> {
    // Counted first: the loop may announce and uncount an entry before `add` returns.
    this.pending += copies.length;
    try {
      await this.options.outbox.add(copies);
    } catch (error) {
      this.pending -= copies.length;
      throw error;
    }
    this.wake();
  }

  status(): AnnouncerStatus {
    return { pending: this.pending, retrying: this.streak > 0, ...(this.lastError !== undefined ? { last_error: this.lastError } : {}) };
  }

  /** Stops at once: requests in flight are abandoned and their entries stay for the next start. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.stopping.abort();
      await this.loop;
    })();
    return this.closed;
  }

  /** New entries: a pass now, unless the gate is closed (then they wait for it, on disk). */
  private wake(): void {
    this.wakeRequested = true;
    if (Date.now() >= this.gateUntil) this.waker?.();
  }

  private async run(): Promise<void> {
    const { logger, maxRetryDelayMs } = this.options;
    while (!this.stopping.signal.aborted) {
      this.wakeRequested = false;
      let next: number | undefined;
      try {
        next = await this.drain();
      } catch (error) {
        logger.error({ err: errorMessage(error), outbox: this.options.outbox.dir }, 'Reading the announcement outbox failed; trying again later');
        next = Date.now() + maxRetryDelayMs;
      }
      if (this.wakeRequested) next = Date.now();
      await this.idle(Math.max(next ?? Date.now() + RESCAN_MS, this.gateUntil, Date.now() + MIN_IDLE_MS));
    }
  }

  /** One pass over the outbox; returns when the next one is due (`undefined`: nothing is, until woken). */
  private async drain(): Promise<number | undefined> {
    const pass = ++this.pass;
    const running = new Set<Promise<void>>();
    let next: number | undefined;
    const later = (at: number) => (next = next === undefined ? at : Math.min(next, at));
    let complete = true;
    for await (const name of this.options.outbox.names()) {
      const waiting = this.backoff.get(name);
      if (waiting) waiting.pass = pass;
      if (waiting && waiting.dueAt > Date.now()) {
        later(waiting.dueAt);
        continue;
      }
      while (running.size >= this.options.concurrency) await Promise.race(running);
      // Checked after the wait for a slot: a failure in the meantime closes the gate for the rest of the pass.
      if (this.stopping.signal.aborted || Date.now() < this.gateUntil) {
        complete = false;
        break;
      }
      const task: Promise<void> = this.announce(name, pass).finally(() => running.delete(task));
      running.add(task);
    }
    await Promise.all(running);
    if (!complete || this.streak > 0) later(this.gateUntil);
    for (const [name, waiting] of this.backoff) {
      // Gone from the outbox without us (removed by hand): forgotten, or its due time would wake us for nothing.
      if (complete && waiting.pass !== pass) this.backoff.delete(name);
      else later(waiting.dueAt);
    }
    return next;
  }

  private async announce(name: string, pass: number): Promise<void> {
    const { outbox, readMessage, poster, logger } = this.options;
    try {
      const entry = await outbox.read(name);
      if (entry === EntryRead.Gone) return void this.backoff.delete(name);
      if (entry === EntryRead.Unreadable) {
        logger.error({ entry: name, outbox: outbox.dir }, 'An outbox entry cannot be read: renamed *.unreadable, not announced');
        await outbox.setAside(name);
        return this.forget(name, true);
      }
      const context = { emailId: entry.email_id, userEmail: entry.user_email };
      const raw = await readMessage(entry.user_email, entry.email_id);
      if (!raw) {
        logger.warn(context, 'Announcement dropped: the message is no longer in the inbox');
        return this.forget(name, await outbox.remove(name));
      }
      const outcome = await poster.post(await webhookPayloadFrom(entry.user_email, entry.email_id, raw), this.stopping.signal);
      switch (outcome.kind) {
        case WebhookResult.Delivered:
          this.forget(name, await outbox.remove(name));
          this.answered();
          logger.info({ ...context, status: outcome.status }, 'New mail announced to the runtime');
          return;
        case WebhookResult.Rejected:
          logger.error({ ...context, reason: outcome.reason, status: outcome.status, response: outcome.response }, 'Announcement refused by the runtime as invalid; dropped');
          this.forget(name, await outbox.remove(name));
          if (outcome.status !== undefined) this.answered();
          return;
        case WebhookResult.Retry:
          return this.refused(name, pass, context, outcome.reason, outcome.retryAfterMs);
        case WebhookResult.Closed:
          return;
      }
    } catch (error) {
      // Our side (the Maildir or the outbox could not be read or written): only this entry waits.
      logger.warn({ entry: name, err: errorMessage(error) }, 'Announcing a stored message failed here; it stays in the outbox');
      this.holdBack(name, pass);
    }
  }

  private forget(name: string, removed: boolean): void {
    this.backoff.delete(name);
    if (removed) this.pending = Math.max(0, this.pending - 1);
  }

  /** The runtime answered: the gate opens. */
  private answered(): void {
    if (this.streak > 0) this.options.logger.info({ failures: this.streak, pending: this.pending }, 'Announcements reach the runtime again');
    this.streak = 0;
    this.gateUntil = 0;
    this.lastError = undefined;
  }

  private refused(name: string, pass: number, context: Record<string, string>, reason: string, retryAfter: number | undefined): void {
    const { minRetryDelayMs, maxRetryDelayMs, logger } = this.options;
    this.lastError = reason;
    const line = { ...context, reason, pending: this.pending };
    if (Date.now() < this.gateUntil) {
      // Another try of the same round, in flight when the gate closed: it says nothing new.
      if (retryAfter !== undefined) this.gateUntil = Math.max(this.gateUntil, Date.now() + Math.min(maxRetryDelayMs, retryAfter));
      logger.debug(line, 'The runtime did not accept an announcement');
      return;
    }
    // Failing while the runtime takes other mail says something about this entry; failing in an outage does not.
    if (this.streak === 0) this.holdBack(name, pass);
    this.streak += 1;
    const delay = Math.min(maxRetryDelayMs, Math.max(retryDelayMs(this.streak, minRetryDelayMs, maxRetryDelayMs), retryAfter ?? 0));
    this.gateUntil = Date.now() + delay;
    // One line per round of tries, not one per entry tried in it.
    logger.warn({ ...line, failures: this.streak, retryInMs: delay }, 'The runtime did not accept an announcement; retrying with backoff');
  }

  private holdBack(name: string, pass: number): void {
    const { minRetryDelayMs, maxRetryDelayMs } = this.options;
    const failures = (this.backoff.get(name)?.failures ?? 0) + 1;
    if (!this.backoff.has(name) && this.backoff.size >= MAX_TRACKED_ENTRIES) return;
    this.backoff.set(name, { failures, dueAt: Date.now() + retryDelayMs(failures, minRetryDelayMs, maxRetryDelayMs), pass });
  }

  private idle(until: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.stopping.signal;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.waker = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, until - Date.now()));
      this.waker = done;
      if (signal.aborted) done();
      else signal.addEventListener('abort', done, { once: true });
    });
  }
}
