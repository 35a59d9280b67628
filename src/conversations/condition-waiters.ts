/**
 * Promises that settle once a condition holds, re-checked when told something changed (`check()`), or give up after a
 * timeout. The hub uses it for "no answer in flight" at shutdown: a state change is the only moment that can flip it.
 */
export class ConditionWaiters {
  private readonly waiters = new Set<() => void>();

  constructor(private readonly holds: () => boolean) {}

  /** Resolves `true` once the condition holds (at once if it does now), or `false` after `timeoutMs`. */
  wait(timeoutMs: number): Promise<boolean> {
    if (this.holds()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const settle = (result: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(recheck);
        resolve(result);
      };
      const recheck = () => {
        if (this.holds()) settle(true);
      };
      const timer = setTimeout(() => settle(false), timeoutMs);
      this.waiters.add(recheck);
    });
  }

  /** Something changed: settles every waiter whose condition now holds. */
  check(): void {
    for (const recheck of [...this.waiters]) recheck();
  }
}
