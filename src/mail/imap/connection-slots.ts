import { MailboxUnavailableError } from '../maildir/index.js';

/**
 * The cap on IMAP connections held at once by the whole mail server (`[mail] imap_max_connections`): each is a
 * socket, a TLS session and a parser, here and on the provider's side.
 */
export class ConnectionSlots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly max: number) {}

  get inUse(): number {
    return this.used;
  }

  /** Resolves with a release function (safe to call twice); past `timeoutMs` of waiting, a clear refusal. */
  async take(timeoutMs = Number.POSITIVE_INFINITY): Promise<() => void> {
    // A freed slot passes straight to the next waiter, so that a newcomer cannot take it between the two.
    if (this.used < this.max) this.used += 1;
    else await this.wait(timeoutMs);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.used -= 1;
    };
  }

  private wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const turn = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer =
        timeoutMs === Number.POSITIVE_INFINITY
          ? undefined
          : setTimeout(() => {
              this.waiting.splice(this.waiting.indexOf(turn), 1);
              reject(new MailboxUnavailableError(`The mail server holds its maximum of ${this.max} IMAP connections ([mail] imap_max_connections); try again shortly.`));
            }, timeoutMs);
      this.waiting.push(turn);
    });
  }
}
