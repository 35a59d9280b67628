/** setTimeout's longest delay; a token valid for longer is re-checked then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A pending sign-out; `cancel` is safe to call at any time, even after it fired. */
export interface ExpiryTimer {
  cancel(): void;
}

/**
 * Calls `onExpired` once `expiresAt` (epoch ms) has passed, at once if it already has. A token is checked when a
 * socket signs in; without this, the socket would stay signed in long after its token expired.
 */
export function atExpiry(expiresAt: number, onExpired: () => void): ExpiryTimer {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const check = (): void => {
    if (cancelled) return;
    const left = expiresAt - Date.now();
    if (left > 0) {
      timer = setTimeout(check, Math.min(left, MAX_TIMER_MS)).unref();
      return;
    }
    onExpired();
  };
  check();
  return {
    cancel() {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}
