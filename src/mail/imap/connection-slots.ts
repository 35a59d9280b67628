import { MailboxUnavailableError } from '../maildir/index.js';

/** Who holds a slot: a tool call (brief, or idle in a pool and reclaimable) or a new-mail watcher (for good). */
const SlotUse = { Call: 'call', Watch: 'watch' } as const;
type SlotUse = (typeof SlotUse)[keyof typeof SlotUse];

/**
 * The share of the cap kept from watchers for tool calls: a tenth, rounded up. Watchers hold their connections for
 * good, so with as many accounts as the cap they would otherwise take every slot, and each tool call would wait for
 * one until it timed out.
 */
const CALL_RESERVE_DIVISOR = 10;

export function callReserve(max: number): number {
  return Math.ceil(max / CALL_RESERVE_DIVISOR);
}

interface Waiter {
  use: SlotUse;
  /** Called with the slot already held for it. */
  admit: () => void;
}

/**
 * The cap on IMAP connections held at once by the whole mail server (`[mail] imap_max_connections`): each is a
 * socket, a TLS session and a parser, here and on the provider's side. Watchers together hold at most `watchMax` of
 * them; tool calls may use any.
 */
export class ConnectionSlots {
  /** Slots the watchers may hold together. */
  readonly watchMax: number;
  private used = 0;
  private watching = 0;
  private readonly waiting: Waiter[] = [];
  /** Pools that can give a slot back by logging out a connection nobody uses right now. */
  private readonly reclaimers = new Set<() => boolean>();

  constructor(readonly max: number) {
    this.watchMax = max - callReserve(max);
  }

  get inUse(): number {
    return this.used;
  }

  /** A slot for a tool call's connection: resolves with a release function (safe to call twice); past `timeoutMs`, a clear refusal. */
  takeForCall(timeoutMs = Number.POSITIVE_INFINITY): Promise<() => void> {
    return this.take(SlotUse.Call, timeoutMs, undefined);
  }

  /** A slot for a watcher's connection, waited for as long as it takes; when `signal` aborts (the watcher stopped), its reason. */
  takeForWatch(signal: AbortSignal): Promise<() => void> {
    return this.take(SlotUse.Watch, Number.POSITIVE_INFINITY, signal);
  }

  /** `reclaim` logs out one idle connection and says whether it did; returns the way to stop asking it. */
  addReclaimer(reclaim: () => boolean): () => void {
    this.reclaimers.add(reclaim);
    return () => this.reclaimers.delete(reclaim);
  }

  private async take(use: SlotUse, timeoutMs: number, signal: AbortSignal | undefined): Promise<() => void> {
    signal?.throwIfAborted();
    // Idle pooled connections must not keep a watcher or a call waiting: the oldest idle one goes first.
    if (this.used >= this.max && this.withinShare(use)) this.reclaimOne();
    if (this.fits(use)) this.hold(use);
    else await this.wait(use, timeoutMs, signal);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= 1;
      if (use === SlotUse.Watch) this.watching -= 1;
      this.admitWaiters();
    };
  }

  private withinShare(use: SlotUse): boolean {
    return use === SlotUse.Call || this.watching < this.watchMax;
  }

  private fits(use: SlotUse): boolean {
    return this.used < this.max && this.withinShare(use);
  }

  private hold(use: SlotUse): void {
    this.used += 1;
    if (use === SlotUse.Watch) this.watching += 1;
  }

  /**
   * In order of arrival, every waiter that fits now gets its slot, held for it before it resumes: a newcomer cannot
   * take it in between. A call may pass a watcher that waits for the watchers' share.
   */
  private admitWaiters(): void {
    for (const waiter of [...this.waiting]) {
      if (!this.fits(waiter.use)) continue;
      this.waiting.splice(this.waiting.indexOf(waiter), 1);
      this.hold(waiter.use);
      waiter.admit();
    }
  }

  private reclaimOne(): void {
    for (const reclaim of this.reclaimers) if (reclaim()) return;
  }

  private wait(use: SlotUse, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const giveUp = (reason: unknown): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(reason);
      };
      const onAbort = (): void => giveUp(signal?.reason);
      const waiter: Waiter = {
        use,
        admit: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const timer =
        timeoutMs === Number.POSITIVE_INFINITY
          ? undefined
          : setTimeout(() => giveUp(new MailboxUnavailableError(`The mail server holds its maximum of ${this.max} IMAP connections ([mail] imap_max_connections); try again shortly.`)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }
}
