/**
 * Waits for conditions on a fake server's state, re-checked whenever the server says something changed (`notify`),
 * rejected with `name` and what was awaited after a timeout. Shared by the fake LLM servers.
 */
export class ChangeWaiters {
  private readonly waiters = new Set<() => void>();

  constructor(private readonly name: string) {}

  waitFor(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this.name}: timed out after ${timeoutMs}ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  notify(): void {
    for (const check of [...this.waiters]) check();
  }
}
