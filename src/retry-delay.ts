/** Exponential and capped, with "equal jitter" (half the step, plus up to half again) so retries do not march in step. */
export function retryDelayMs(failures: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(maxMs, minMs * 2 ** Math.max(0, failures - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}
