/**
 * Runs `task` at most once per `intervalMs`, however often it is requested: a burst of requests gives one run at the
 * next slot, and the last request is never lost. Requests are cheap (a flag and, once per slot, a timer).
 */
export class Coalescer {
  private timer: NodeJS.Timeout | undefined;
  private lastRun = Number.NEGATIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly task: () => void,
    private readonly intervalMs: number,
  ) {}

  request(): void {
    if (this.timer || this.stopped) return;
    // Even the first run waits for the end of the current tick, so the steps of one event come out as one update.
    const delay = Math.max(0, this.lastRun + this.intervalMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.lastRun = performance.now();
      this.task();
    }, delay);
    this.timer.unref();
  }

  /** Drops a pending run and takes no more requests. Safe to call twice. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
