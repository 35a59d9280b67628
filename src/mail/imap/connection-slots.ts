import { MailboxUnavailableError } from '../maildir/index.js';

/**
 * The cap on IMAP connections held at once by the whole mail server (`[mail] imap_max_connections`): each is a
 * socket, a TLS session and a parser, here and on the provider's side.
 */
export class ConnectionSlots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];
  /** Pools that can give a slot back by logging out a connection nobody uses right now. */
  private readonly reclaimers = new Set<() => boolean>();

  constructor(readonly max: number) {}

  get inUse(): number {
    return this.used;
  }

  /**
   * Resolves with a release function (safe to call twice); past `timeoutMs` of waiting, a clear refusal; when `signal`
   * aborts (a watcher stopped while it waits), the signal's reason.
   */
  async take(timeoutMs = Number.POSITIVE_INFINITY, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    // Idle pooled connections must not keep a watcher or a call waiting: the oldest idle one goes first.
    if (this.used >= this.max) this.reclaimOne();
    // A freed slot passes straight to the next waiter, so that a newcomer cannot take it between the two.
    if (this.used < this.max) this.used += 1;
    else await this.wait(timeoutMs, signal);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.used -= 1;
    };
  }

  /** `reclaim` logs out one idle connection and says whether it did; returns the way to stop asking it. */
  addReclaimer(reclaim: () => boolean): () => void {
    this.reclaimers.add(reclaim);
    return () => this.reclaimers.delete(reclaim);
  }

  private reclaimOne(): void {
    for (const reclaim of this.reclaimers) if (reclaim()) return;
  }

  private wait(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const giveUp = (reason: unknown): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = this.waiting.indexOf(turn);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(reason);
      };
      const onAbort = (): void => giveUp(signal?.reason);
      const turn = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const timer =
        timeoutMs === Number.POSITIVE_INFINITY
          ? undefined
          : setTimeout(() => giveUp(new MailboxUnavailableError(`The mail server holds its maximum of ${this.max} IMAP connections ([mail] imap_max_connections); try again shortly.`)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(turn);
    });
  }
}
