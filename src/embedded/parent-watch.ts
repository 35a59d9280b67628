/**
 * Set by `npm start` on the children it spawns: the parent's pid. A child started by hand (`npm run mail-server`)
 * has no such variable and watches nothing.
 */
export const PARENT_PID_ENV = 'AI_RUNTIME_PARENT_PID';

/** The fallback check; the stdin pipe usually tells us first. */
const PARENT_POLL_MS = 1_000;

/**
 * `onParentGone` runs when the `npm start` that spawned us is gone, even after a SIGKILL that gave it no chance to
 * stop us: its end of our stdin pipe closes, and our parent pid changes (we are re-parented to init). Returns
 * whether a watch was set up.
 */
export function watchParent(onParentGone: () => void): boolean {
  const expected = Number(process.env[PARENT_PID_ENV]);
  if (!Number.isInteger(expected) || expected <= 0) return false;
  let fired = false;
  const fire = (): void => {
    if (fired) return;
    fired = true;
    clearInterval(poll);
    onParentGone();
  };
  const poll = setInterval(() => {
    if (process.ppid !== expected) fire();
  }, PARENT_POLL_MS);
  poll.unref();
  process.stdin.once('end', fire);
  process.stdin.once('error', fire);
  process.stdin.resume();
  if (process.ppid !== expected) fire();
  return true;
}
